import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, metricValue, readResponse, tunnel } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { startHttpOrigin, startTcpOrigin, type HttpOrigin } from '../origins.js';
import { ending } from '../tunnel-clients.js';

let origin: HttpOrigin;
let fleet: Fleet;

beforeAll(async () => {
  origin = await startHttpOrigin();
  // Long idle and head timeouts: whatever closes these connections, it is not them.
  fleet = await startProxy({
    ...loopbackInternet(origin.port),
    proxy: { workers: 1 },
    timeouts: { idleMs: 120_000, headersMs: 120_000 },
  });
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), origin?.close()]);
});

const openConnections = (): Promise<number | undefined> =>
  metricValue(fleet.config.metrics.port, 'egress_proxy_open_connections');

describe('a refused connection is closed by the proxy even when the client keeps it open', () => {
  it.each([
    ['a denied CONNECT', 403, 'CONNECT denied.example:443 HTTP/1.1\r\nHost: denied.example:443\r\n\r\n'],
    [
      'an Upgrade',
      400,
      'GET http://localhost/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    ],
    [
      'an unreadable request',
      400,
      'GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\nNo Colon Here\r\n\r\n',
    ],
    ['a CONNECT with a body', 400, 'CONNECT localhost:1 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc'],
  ])('%s: answered %s, then released within seconds', async (_name, status, request) => {
    await expect.poll(openConnections).toBe(0);
    const socket = await dial(fleet.config.proxy.port);
    socket.write(request);
    const response = await readResponse(socket);
    expect(response.status).toBe(status);
    expect(response.headers.connection).toBe('close');
    // The client never closes; the proxy must let go by itself, long before idleMs.
    await expect.poll(openConnections, { timeout: 8_000, interval: 200 }).toBe(0);
    socket.destroy();
  });

  it('a client that keeps sending after the refusal does not hold the connection either', async () => {
    await expect.poll(openConnections).toBe(0);
    const socket = await dial(fleet.config.proxy.port);
    socket.on('error', () => undefined);
    socket.write('CONNECT denied.example:443 HTTP/1.1\r\nHost: denied.example:443\r\n\r\n');
    expect((await readResponse(socket)).status).toBe(403);
    const drip = setInterval(() => socket.writable && socket.write('x'), 100);
    try {
      await expect.poll(openConnections, { timeout: 8_000, interval: 200 }).toBe(0);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  });
});

describe('an idle connection is closed after timeouts.idleMs in every state', () => {
  it('a tunnel nobody uses, and a kept-alive connection between requests', async () => {
    const quiet = await startTcpOrigin((socket) => socket.on('error', () => undefined));
    const impatient = await startProxy({
      ...loopbackInternet(quiet.port, origin.port),
      timeouts: { idleMs: 1_000 },
    });
    try {
      const idleTunnel = await tunnel(impatient.config.proxy.port, `localhost:${quiet.port}`);
      const keptAlive = await dial(impatient.config.proxy.port);
      keptAlive.write(`GET http://localhost:${origin.port}/ HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      expect((await readResponse(keptAlive)).status).toBe(200);
      const ended = (socket: Socket): Promise<string> =>
        new Promise((resolve) => {
          socket.once('end', () => resolve('ended')).once('close', () => resolve('ended'));
          socket.on('error', () => resolve('ended')).resume();
        });
      expect(await Promise.all([ended(idleTunnel), ended(keptAlive)])).toEqual(['ended', 'ended']);
      const line = await impatient.proxy.waitForLog(
        (entry) => entry.msg === 'tunnel' && entry.port === quiet.port,
      );
      expect(line.decision).toBe('allowed');
    } finally {
      await Promise.all([impatient.stop(), quiet.close()]);
    }
  });
});

describe('a tunnel moving bytes in one direction only is not idle', () => {
  // The tunnel's one idle timer is the client socket's: Node re-arms it when the client sends and
  // when a write to the client completes, so either direction alone keeps the tunnel open.
  it('a download the client never answers, and an upload the destination never answers', async () => {
    const IDLE_MS = 1_000;
    const TICK_MS = 150;
    const received: string[] = [];
    let talking = true;
    const talker = await startTcpOrigin((socket) => {
      socket.on('error', () => undefined);
      const ticker = setInterval(() => talking && socket.writable && socket.write('d'), TICK_MS);
      socket.on('close', () => clearInterval(ticker));
    });
    const listener = await startTcpOrigin((socket) => {
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => received.push(chunk.toString()));
    });
    const impatient = await startProxy({
      ...loopbackInternet(talker.port, listener.port),
      timeouts: { idleMs: IDLE_MS },
    });
    try {
      const download = await tunnel(impatient.config.proxy.port, `localhost:${talker.port}`);
      const upload = await tunnel(impatient.config.proxy.port, `localhost:${listener.port}`);
      let downloaded = 0;
      download.on('data', (chunk: Buffer) => (downloaded += chunk.length));
      download.resume();
      upload.resume();
      const ticker = setInterval(() => upload.write('u'), TICK_MS);
      const closed: string[] = [];
      void ending(download).then(() => closed.push('download'));
      void ending(upload).then(() => closed.push('upload'));
      await new Promise((resolve) => setTimeout(resolve, 3 * IDLE_MS));
      clearInterval(ticker);
      expect(closed).toEqual([]);
      expect(downloaded).toBeGreaterThan((2 * IDLE_MS) / TICK_MS);
      expect(received.join('').length).toBeGreaterThan((2 * IDLE_MS) / TICK_MS);
      // Both fall silent: now the idle deadline closes them.
      talking = false;
      await expect.poll(() => closed.length, { timeout: 5 * IDLE_MS }).toBe(2);
    } finally {
      await Promise.all([impatient.stop(), talker.close(), listener.close()]);
    }
  });
});
