import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POOL_IDLE_MS } from '../../../proxy-app/src/proxy/pool.js';
import { dial, readResponse } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { startTcpOrigin } from '../origins.js';

/**
 * A raw origin that numbers its connections and answers each request with the number of the
 * connection it came on; `/close` answers with `Connection: close`, `/short` announces
 * `Keep-Alive: timeout=1`, `/fin` half-closes the connection after answering, unannounced (and
 * reads on without answering). It records when each connection closes.
 */
interface NumberingOrigin {
  readonly port: number;
  readonly closed: Map<number, number>;
  close(): Promise<void>;
}

async function numberingOrigin(): Promise<NumberingOrigin> {
  const closed = new Map<number, number>();
  let connections = 0;
  const origin = await startTcpOrigin((socket) => {
    const id = ++connections;
    socket.once('close', () => closed.set(id, performance.now()));
    // The origin is half-open capable; when the proxy ends its side, so does the origin.
    socket.once('end', () => socket.end());
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const path = pending.slice(0, end).split(' ')[1];
        pending = pending.slice(end + 4);
        if (socket.writableEnded) continue;
        const extra =
          path === '/close' ? 'Connection: close\r\n' : path === '/short' ? 'Keep-Alive: timeout=1\r\n' : '';
        const body = String(id);
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`);
        if (path === '/close' || path === '/fin') socket.end();
      }
    });
  });
  return { port: origin.port, closed, close: () => origin.close() };
}

let origin: NumberingOrigin;
let fleet: Fleet;

beforeAll(async () => {
  origin = await numberingOrigin();
  // One worker: one pool, so which connection a request takes is the pool's choice alone.
  fleet = await startProxy({ ...loopbackInternet(origin.port), proxy: { workers: 1 } });
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), origin?.close()]);
});

/** The numbers of the origin connections that carried `paths`, sent one after another on one client connection. */
async function connectionsFor(...paths: string[]): Promise<number[]> {
  const socket = await dial(fleet.config.proxy.port);
  const numbers: number[] = [];
  try {
    for (const path of paths) {
      socket.write(`GET http://127.0.0.1:${origin.port}${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      const response = await readResponse(socket);
      expect(response.status).toBe(200);
      numbers.push(Number(response.body));
    }
  } finally {
    socket.destroy();
  }
  return numbers;
}

describe('the upstream connection pool', () => {
  it('carries one request after another over one upstream connection', async () => {
    const [first, second, third] = await connectionsFor('/a', '/b', '/c');
    expect(second).toBe(first);
    expect(third).toBe(first);
  });

  it('does not reuse a connection the origin closes or announces it will close within a second', async () => {
    const [closing, afterClose] = await connectionsFor('/close', '/a');
    expect(afterClose).not.toBe(closing);
    const [short, afterShort] = await connectionsFor('/short', '/a');
    expect(afterShort).not.toBe(short);
    await expect.poll(() => origin.closed.has(short!), { timeout: 5_000 }).toBe(true);
  });

  it('does not reuse a pooled connection the origin half-closed', async () => {
    const [fin] = await connectionsFor('/fin');
    // Upstream sockets allow half-open (tunnels need it), so the pool must see the FIN itself,
    // and close the connection long before its idle timeout would.
    await expect.poll(() => origin.closed.has(fin!), { timeout: POOL_IDLE_MS / 2 }).toBe(true);
    const [next] = await connectionsFor('/a');
    expect(next).not.toBe(fin);
  });

  it('closes a connection left idle in the pool', async () => {
    const [used] = await connectionsFor('/a');
    await expect.poll(() => origin.closed.has(used!), { timeout: POOL_IDLE_MS + 5_000 }).toBe(true);
    const [next] = await connectionsFor('/a');
    expect(next).not.toBe(used);
  });

  it('after a policy reload, opens new connections and closes the pooled ones', async () => {
    const [before] = await connectionsFor('/a');
    fleet.proxy.child.kill('SIGHUP');
    await fleet.proxy.waitForLog((line) => line.msg === 'policy reloaded' && line.proc === 'proxy');
    const [after] = await connectionsFor('/a');
    expect(after).not.toBe(before);
    await expect.poll(() => origin.closed.has(before!), { timeout: 5_000 }).toBe(true);
  });
});
