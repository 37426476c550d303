import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, readUntilEnd } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { listenOnLoopback } from '../origins.js';

/** Answers with its own reason phrase and a trailer, and remembers the request headers. */
let origin: Server;
let originPort: number;
let seen: IncomingHttpHeaders = {};
let seenRaw: string[] = [];
let fleet: Fleet;
const settings = (): Parameters<typeof startProxy>[0] => loopbackInternet(originPort);

beforeAll(async () => {
  origin = createServer((req, res) => {
    seen = req.headers;
    seenRaw = req.rawHeaders;
    res.writeHead(200, 'Fine Thanks', { 'content-type': 'text/plain', trailer: 'x-checksum' });
    res.write('body');
    res.addTrailers({ 'x-checksum': 'abc123' });
    res.end();
  });
  originPort = await listenOnLoopback(origin);
  fleet = await startProxy(settings());
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), new Promise((resolve) => origin?.close(resolve))]);
});

async function get(through: Fleet, extra = ''): Promise<string> {
  const socket = await dial(through.config.proxy.port);
  socket.write(
    `GET http://localhost:${originPort}/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n` +
      `X-Forwarded-For: 10.9.8.7\r\nForwarded: for=10.9.8.7\r\nX-Real-IP: 10.9.8.7\r\n${extra}\r\n`,
  );
  return readUntilEnd(socket);
}

describe('HTTP semantics of forwarded exchanges', () => {
  it("relays the origin's reason phrase and its trailers", async () => {
    const raw = await get(fleet);
    expect(raw).toMatch(/^HTTP\/1\.1 200 Fine Thanks\r\n/);
    expect(raw).toMatch(/\r\ntrailer: x-checksum\r\n/i);
    expect(raw).toMatch(/\r\n0\r\nx-checksum: abc123\r\n\r\n$/i);
  });

  it("keeps the client's header order and spelling", async () => {
    await get(fleet, 'x-Second: 2\r\nX-FIRST: 1\r\nx-second: 3\r\n');
    const names = seenRaw.filter((_, i) => i % 2 === 0 && /second|first/i.test(seenRaw[i]!));
    expect(names).toEqual(['x-Second', 'X-FIRST', 'x-second']);
  });

  it('adds Via to the request and the response, after any the client or origin sent', async () => {
    const raw = await get(fleet, 'Via: 1.0 corp-gateway\r\n');
    expect(seen.via).toBe('1.0 corp-gateway, 1.1 egress-proxy');
    expect(raw).toMatch(/\r\nvia: 1\.1 egress-proxy\r\n/i);
  });

  it('does not pass client addresses on by default: X-Forwarded-For, Forwarded and X-Real-IP are removed', async () => {
    await get(fleet);
    expect(seen['x-forwarded-for']).toBeUndefined();
    expect(seen.forwarded).toBeUndefined();
    expect(seen['x-real-ip']).toBeUndefined();
  });

  it('with proxy.forwardedFor "append", adds the client address to X-Forwarded-For', async () => {
    const appending = await startProxy({ ...settings(), proxy: { forwardedFor: 'append' } });
    try {
      await get(appending);
    } finally {
      await appending.stop();
    }
    expect(seen['x-forwarded-for']).toBe('10.9.8.7, 127.0.0.1');
  });
});
