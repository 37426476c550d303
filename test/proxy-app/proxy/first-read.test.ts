/**
 * A connection's first read decides its path: a plain CONNECT head opens the tunnel directly,
 * anything else is put back for Node's parser. Both paths, and a connection that sends nothing,
 * through a real proxy.
 */
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dial, readHead, readResponse } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { startHttpOrigin, startTcpOrigin, type HttpOrigin, type TcpOrigin } from '../origins.js';

let echo: TcpOrigin;
let origin: HttpOrigin;
/** A head deadline far beyond any wait below: whatever closes a connection here, it is not that. */
let patient: Fleet;

beforeAll(async () => {
  echo = await startTcpOrigin((socket) => socket.pipe(socket));
  origin = await startHttpOrigin();
  patient = await startProxy({
    ...loopbackInternet(echo.port, origin.port),
    proxy: { workers: 1 },
    timeouts: { headersMs: 60_000, idleMs: 120_000 },
  });
});

afterAll(async () => {
  await Promise.all([patient?.stop(), echo?.close(), origin?.close()]);
});

/** What the echo origin sends back through the tunnel until `expected` bytes came. */
function echoed(socket: Socket, expected: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const timer = setTimeout(() => reject(new Error(`echoed only ${JSON.stringify(got)}`)), 5_000);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString('latin1');
      if (got.length >= expected) {
        clearTimeout(timer);
        resolve(got);
      }
    });
    socket.resume();
  });
}

/** Resolves once the proxy closed or ended the connection. */
function closedByProxy(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    socket
      .once('end', resolve)
      .once('close', resolve)
      .on('error', () => resolve());
    socket.resume();
  });
}

describe('the first read', () => {
  it('a CONNECT with tunnel bytes in the same write: the destination gets them first, in order', async () => {
    const socket = await dial(patient.config.proxy.port);
    socket.write(`CONNECT localhost:${echo.port} HTTP/1.1\r\nHost: localhost\r\n\r\nfirst|`);
    expect((await readHead(socket)).status).toBe(200);
    socket.write('second');
    expect(await echoed(socket, 12)).toBe('first|second');
    socket.destroy();
  });

  it('a CONNECT head that arrives in pieces goes to Node and still opens the tunnel', async () => {
    const socket = await dial(patient.config.proxy.port);
    const head = `CONNECT localhost:${echo.port} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    for (const piece of [head.slice(0, 5), head.slice(5, 30), `${head.slice(30)}tail`]) {
      socket.write(piece);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    expect((await readHead(socket)).status).toBe(200);
    expect(await echoed(socket, 4)).toBe('tail');
    socket.destroy();
  });

  it('an absolute-form request split across writes, then a second one, on one connection', async () => {
    const socket = await dial(patient.config.proxy.port);
    const request = `GET http://localhost:${origin.port}/a HTTP/1.1\r\nHost: localhost\r\n\r\n`;
    socket.write(request.slice(0, 7));
    await new Promise((resolve) => setTimeout(resolve, 30));
    socket.write(request.slice(7));
    expect((await readResponse(socket)).status).toBe(200);
    socket.write(request);
    expect((await readResponse(socket)).status).toBe(200);
    socket.destroy();
  });

  it('a client that ends without sending anything is closed at once, not after headersMs', async () => {
    const socket = await dial(patient.config.proxy.port);
    socket.end();
    await closedByProxy(socket);
    socket.destroy();
  });
});

describe('a connection that sends nothing', () => {
  it('is answered 408 headers_timeout after timeouts.headersMs', async () => {
    const hasty = await startProxy({
      ...loopbackInternet(echo.port),
      proxy: { workers: 1 },
      timeouts: { headersMs: 500 },
    });
    try {
      const socket = await dial(hasty.config.proxy.port);
      const response = await readResponse(socket);
      expect(response.status).toBe(408);
      expect(response.headers['x-egress-proxy-reason']).toBe('headers_timeout');
      socket.destroy();
    } finally {
      await hasty.stop();
    }
  });
});
