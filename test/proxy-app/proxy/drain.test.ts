import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { dial, exchange, readResponse, tunnel } from '../client.js';
import { busyTunnel, connectOutcome, ending } from '../tunnel-clients.js';
import { startProxy, type Fleet } from '../harness.js';
import { startHttpOrigin, startTcpOrigin } from '../origins.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

const DRAIN_MS = 3_000;
const DRAIN_IDLE_MS = 500;

async function drainingFleet(
  proxy: { workers?: number } = {},
): Promise<{ fleet: Fleet; echoPort: number; httpPort: number; streamPort: number }> {
  const echo = await startTcpOrigin((socket) => {
    socket.on('data', (data) => socket.write(data));
    socket.on('end', () => socket.end());
  });
  const http = await startHttpOrigin();
  // Sends a byte every 100 ms whatever the client does: a download the client never answers.
  const stream = await startTcpOrigin((socket) => {
    const ticker = setInterval(() => socket.writable && socket.write('x'), 100);
    socket.on('close', () => clearInterval(ticker));
    socket.on('end', () => socket.end());
  });
  cleanups.push(
    () => echo.close(),
    () => http.close(),
    () => stream.close(),
  );
  const fleet = await startProxy({
    allow: ['localhost'],
    allowPorts: [echo.port, http.port, stream.port],
    allowCidrs: ['127.0.0.0/8'],
    timeouts: { drainMs: DRAIN_MS, drainIdleMs: DRAIN_IDLE_MS },
    proxy,
  });
  cleanups.push(() => fleet.stop());
  return { fleet, echoPort: echo.port, httpPort: http.port, streamPort: stream.port };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A process's children (the proxy's workers), from /proc. */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number),
  );
}

const postDrain = (fleet: Fleet) =>
  exchange(fleet.config.metrics.port, 'POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');

const openConnections = async (fleet: Fleet): Promise<number> => {
  const metrics = await exchange(
    fleet.config.metrics.port,
    'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  return Number(/^egress_proxy_open_connections (\d+)$/m.exec(metrics.body)?.[1] ?? NaN);
};

describe('drain (POST /drain, the sidecar on deregistration)', () => {
  it('closes idle tunnels and kept-alive connections early, lets a busy tunnel run to the deadline, ends it gracefully and keeps listening', async () => {
    const { fleet, echoPort, httpPort } = await drainingFleet();
    const port = fleet.config.proxy.port;

    const idle = await tunnel(port, `localhost:${echoPort}`);
    idle.resume();
    const idleEnded = ending(idle);

    const keptAlive = await dial(port);
    keptAlive.write(`GET http://localhost:${httpPort}/ HTTP/1.1\r\nHost: localhost:${httpPort}\r\n\r\n`);
    expect((await readResponse(keptAlive)).status).toBe(200);
    const keptAliveEnded = ending(keptAlive);

    // A tunnel that moves a byte every 100 ms (well inside drainIdleMs) and counts the echoes.
    const busy = await busyTunnel(port, `localhost:${echoPort}`);
    cleanups.push(async () => busy.stop());

    const drainAt = Date.now();
    expect((await postDrain(fleet)).status).toBe(202);

    const keptAliveEnd = await keptAliveEnded;
    expect(keptAliveEnd.how).toBe('end');
    expect(keptAliveEnd.at - drainAt).toBeLessThan(DRAIN_MS);

    const idleEnd = await idleEnded;
    expect(idleEnd.how).toBe('end');
    expect(idleEnd.at - drainAt).toBeGreaterThanOrEqual(DRAIN_IDLE_MS);
    expect(idleEnd.at - drainAt).toBeLessThan(DRAIN_MS);

    const busyEnd = await busy.ended;
    // Gracefully: a FIN, not a reset, and the bytes sent came back in order; only one still in
    // flight when the FIN crossed it may be missing (closing a two-way stream races with it).
    expect(busyEnd.how).toBe('end');
    expect(busy.echoesAt.some((at) => at > idleEnd.at)).toBe(true);
    expect(busyEnd.at - drainAt).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(busy.counts.sent - busy.counts.echoed).toBeLessThanOrEqual(1);
    await fleet.proxy.waitForLog((line) => line.msg === 'drain deadline: closing what is left');

    // Still running and listening: a stray flow is told to go elsewhere, not refused.
    await expect.poll(() => openConnections(fleet)).toBe(0);
    const stray = await exchange(port, `CONNECT localhost:${echoPort} HTTP/1.1\r\n\r\n`);
    expect(stray.status).toBe(503);
    expect(stray.headers['x-egress-proxy-reason']).toBe('draining');
    expect(fleet.proxy.child.exitCode).toBeNull();
  }, 20_000);

  it('a stall of the proxy longer than drainIdleMs does not make a busy tunnel look idle', async () => {
    const { fleet, echoPort } = await drainingFleet({ workers: 1 });
    const busy = await busyTunnel(fleet.config.proxy.port, `localhost:${echoPort}`, 50);
    cleanups.push(async () => busy.stop());
    expect((await postDrain(fleet)).status).toBe(202);
    await fleet.proxy.waitForLog((line) => line.msg === 'draining' && line.tunnels === 1);
    // Stopped (as by CPU starvation or a long GC pause) while the client keeps sending: when it
    // resumes, its idle timer has expired, but bytes are waiting to be read.
    const proxyTree = [fleet.proxy.child.pid!, ...childrenOf(fleet.proxy.child.pid!)];
    for (const pid of proxyTree) process.kill(pid, 'SIGSTOP');
    await sleep(DRAIN_IDLE_MS * 2.5);
    for (const pid of proxyTree) process.kill(pid, 'SIGCONT');
    const echoedAtResume = busy.counts.echoed;
    await sleep(DRAIN_IDLE_MS * 2);
    expect(await Promise.race([busy.ended, Promise.resolve('open')])).toBe('open');
    expect(busy.counts.echoed).toBeGreaterThan(echoedAtResume);
  });

  it('a tunnel that only downloads (the client silent) is busy: it runs to the deadline', async () => {
    const { fleet, streamPort } = await drainingFleet();
    const download = await tunnel(fleet.config.proxy.port, `localhost:${streamPort}`);
    const arrivals: number[] = [];
    download.on('data', () => arrivals.push(Date.now()));
    download.resume();
    const ended = ending(download);
    const drainAt = Date.now();
    expect((await postDrain(fleet)).status).toBe(202);
    const end = await ended;
    expect(end.how).toBe('end');
    expect(end.at - drainAt).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(arrivals.some((at) => at > drainAt + DRAIN_IDLE_MS * 2)).toBe(true);
  }, 20_000);

  it('SIGTERM after the drain started exits 0 as soon as the last tunnel ends', async () => {
    const { fleet, echoPort } = await drainingFleet();
    const busy = await busyTunnel(fleet.config.proxy.port, `localhost:${echoPort}`);
    cleanups.push(async () => busy.stop());
    expect((await postDrain(fleet)).status).toBe(202);
    fleet.proxy.child.kill('SIGTERM');
    // New connections are refused once the listener closed.
    await expect.poll(() => connectOutcome(fleet.config.proxy.port)).toBe('ECONNREFUSED');
    busy.stop();
    busy.socket.end();
    expect(await fleet.proxy.exited).toBe(0);
    expect(fleet.proxy.logs.some((line) => line.msg === 'drain deadline: closing what is left')).toBe(false);
  });
});
