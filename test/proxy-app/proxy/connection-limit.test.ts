import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dial, metricValue, readResponse, readUntilEnd } from '../client.js';
import { loopbackInternet, startProxy, type Fleet } from '../harness.js';
import { startTcpOrigin, type TcpOrigin } from '../origins.js';

const MAX = 20;
let origin: TcpOrigin;
let fleet: Fleet;
const held: Socket[] = [];

beforeAll(async () => {
  origin = await startTcpOrigin((socket) => socket.on('end', () => socket.end()));
  fleet = await startProxy({
    ...loopbackInternet(origin.port),
    proxy: { workers: 2 },
    limits: { maxConnections: MAX },
  });
});

afterEach(closeAll);

afterAll(async () => {
  await Promise.all([fleet?.stop(), origin?.close()]);
});

/** Opens a connection and asks for a tunnel on it; the connection stays open either way. */
async function tryTunnel(): Promise<number> {
  const socket = await dial(fleet.config.proxy.port);
  socket.on('error', () => undefined);
  held.push(socket);
  socket.write(`CONNECT localhost:${origin.port} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  return (await readResponse(socket)).status;
}

const count = (statuses: number[], status: number): number => statuses.filter((s) => s === status).length;

/** Closes what the test holds and waits until the proxy has let go of every connection. */
async function closeAll(): Promise<void> {
  for (const socket of held.splice(0)) socket.destroy();
  await expect
    .poll(() => metricValue(fleet.config.metrics.port, 'egress_proxy_open_connections'), { timeout: 10_000 })
    .toBe(0);
}

describe('limits.maxConnections', () => {
  it('is exact across two workers when connections arrive one after another', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3 * MAX; i++) statuses.push(await tryTunnel());
    expect(count(statuses, 200)).toBe(MAX);
    expect(count(statuses, 503)).toBe(2 * MAX);
    expect(await metricValue(fleet.config.metrics.port, 'egress_proxy_connections_refused_total')).toBe(
      2 * MAX,
    );
  });

  it('is never exceeded when connections arrive all at once, and capacity returns after they close', async () => {
    const statuses = await Promise.all(Array.from({ length: 3 * MAX }, tryTunnel));
    expect(count(statuses, 200)).toBeLessThanOrEqual(MAX);
    expect(count(statuses, 200) + count(statuses, 503)).toBe(3 * MAX);
    await closeAll();
    const again = await Promise.all(Array.from({ length: MAX }, tryTunnel));
    expect(count(again, 200)).toBe(MAX);
  });

  it('answers a connection over the limit at once with 503 and Connection: close, then closes it', async () => {
    for (let i = 0; i < MAX; i++) expect(await tryTunnel()).toBe(200);
    const socket = await dial(fleet.config.proxy.port);
    held.push(socket);
    // Nothing sent: the answer does not wait for a request.
    const raw = await readUntilEnd(socket, 5_000);
    expect(raw).toMatch(/^HTTP\/1\.1 503 /);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(raw).toMatch(/\r\nx-egress-proxy-reason: too_many_connections\r\n/i);
  });
});
