import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../../proxy-app/src/proxy/in-order.js';
import { dial, readResponse } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { listenOnLoopback, startTcpOrigin, type TcpOrigin } from '../origins.js';

/** Answers each request after a pause, and remembers how many it was serving at once. */
let origin: Server;
let originPort: number;
let active = 0;
let mostActive = 0;
let echo: TcpOrigin;
let fleet: Fleet;

beforeAll(async () => {
  origin = createServer((req, res) => {
    mostActive = Math.max(mostActive, ++active);
    const delay = req.url === '/slow' ? 300 : 20;
    setTimeout(() => {
      active--;
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`answer to ${req.url}`);
    }, delay);
  });
  originPort = await listenOnLoopback(origin);
  echo = await startTcpOrigin((socket) => socket.on('data', (data) => socket.write(data)));
  fleet = await startProxy({
    ...loopbackInternet(originPort, echo.port),
  });
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), echo?.close(), new Promise((resolve) => origin?.close(resolve))]);
});

describe('pipelined requests on one client connection', () => {
  it('are forwarded one at a time and answered in order', async () => {
    mostActive = 0;
    const socket = await dial(fleet.config.proxy.port);
    const paths = Array.from({ length: 20 }, (_, i) => `/p${i}`);
    socket.write(
      paths
        .map((path) => `GET http://localhost:${originPort}${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
        .join(''),
    );
    const bodies: string[] = [];
    for (let i = 0; i < paths.length; i++) bodies.push((await readResponse(socket)).body);
    socket.destroy();
    expect(bodies).toEqual(paths.map((path) => `answer to ${path}`));
    expect(mostActive).toBe(1);
  });

  it('a client that pipelines more requests than the proxy queues is cut off', async () => {
    mostActive = 0;
    const socket = await dial(fleet.config.proxy.port);
    socket.on('error', () => undefined);
    const request = `GET http://localhost:${originPort}/many HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    socket.write(request.repeat(MAX_PIPELINED + 10));
    let raw = '';
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
    await new Promise((resolve) => socket.once('end', resolve).once('close', resolve));
    socket.destroy();
    expect(raw.split('answer to /many').length - 1).toBeLessThanOrEqual(MAX_PIPELINED + 1);
    expect(mostActive).toBeLessThanOrEqual(1);
    await fleet.proxy.waitForLog(
      (line) => line.msg === 'closed a connection that pipelined too many requests',
    );
  });

  it('a CONNECT behind a slow request is answered only once that response is complete', async () => {
    const socket = await dial(fleet.config.proxy.port);
    socket.write(
      `GET http://localhost:${originPort}/slow HTTP/1.1\r\nHost: localhost\r\n\r\n` +
        `CONNECT localhost:${echo.port} HTTP/1.1\r\nHost: localhost\r\n\r\nping`,
    );
    let raw = '';
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
    await expect.poll(() => raw.endsWith('ping'), { timeout: 5_000 }).toBe(true);
    socket.destroy();
    const slowAnswer = raw.indexOf('answer to /slow');
    const established = raw.indexOf('HTTP/1.1 200 Connection Established');
    expect(raw.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(slowAnswer).toBeGreaterThan(0);
    // Between the slow answer's body and the tunnel's 200: only the end of that body's framing.
    expect(raw.slice(slowAnswer + 'answer to /slow'.length, established)).toMatch(/^(\r\n0\r\n\r\n)?$/);
  });
});
