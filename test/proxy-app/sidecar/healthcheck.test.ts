import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange } from '../client.js';
import { run, startProxy, type Fleet, type Running } from '../harness.js';

let fleet: Fleet;
let sidecar: Running;

beforeAll(async () => {
  // The probe target needs no allow entry: the proxy admits it for clients on this host only.
  fleet = await startProxy({ allow: ['example.com'], probe: { timeoutMs: 500, cacheMs: 200 } });
  sidecar = run('sidecar', fleet.configFile);
  await sidecar.waitForLog((line) => line.msg === 'sidecar listening');
});

afterAll(async () => {
  await Promise.all([fleet?.stop(), sidecar?.stop()]);
});

interface Health {
  status: number;
  body: {
    status: string;
    policyVersion: string | null;
    modes?: Record<string, { ok: boolean; reason?: string }>;
  };
}

async function health(path = '/healthcheck', method = 'GET'): Promise<Health> {
  const response = await exchange(
    fleet.config.health.port,
    `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
  );
  return { status: response.status, body: JSON.parse(response.body) as Health['body'] };
}

/** Restarts the proxy on the same config (same ports), as systemd would. */
async function restartProxy(): Promise<void> {
  const proxy = run('proxy', fleet.configFile);
  await proxy.waitForLog((line) => line.msg === 'proxy listening');
  Object.assign(fleet, { proxy });
}

describe('/healthcheck', () => {
  it('answers 200 when both probe modes forwarded through the proxy, naming the policy version', async () => {
    const answer = await health();
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      status: 'ok',
      modes: { forward: { ok: true }, tunnel: { ok: true } },
    });
    expect(answer.body.policyVersion).toMatch(/^[0-9a-f]{12}$/);
    const lines = await Promise.all([
      fleet.proxy.waitForLog((line) => line.msg === 'forward' && line.port === fleet.config.health.port),
      fleet.proxy.waitForLog((line) => line.msg === 'tunnel' && line.port === fleet.config.health.port),
    ]);
    expect(lines.map((line) => line.decision)).toEqual(['allowed', 'allowed']);
  });

  it('shares one in-flight probe among concurrent checks', async () => {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = fleet.proxy.logs.filter((line) => line.msg === 'forward').length;
    const answers = await Promise.all(Array.from({ length: 20 }, () => health()));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const probes = fleet.proxy.logs.filter((line) => line.msg === 'forward').length - before;
    expect(probes).toBeGreaterThanOrEqual(1);
    expect(probes).toBeLessThanOrEqual(3);
  });

  it('answers 503 while the proxy is dead, and 200 again soon after it is back', async () => {
    const workers = await workerPids(fleet.proxy.child.pid!);
    fleet.proxy.child.kill('SIGKILL');
    await fleet.proxy.exited;
    // Workers exit when they lose their primary, a moment later; until then they still accept.
    await expect.poll(() => workers.filter(isRunning), { timeout: 10_000 }).toEqual([]);
    await expect.poll(async () => (await health()).status, { timeout: 5_000 }).toBe(503);
    // The workers hold the listening socket until they notice the primary is gone; on a loaded
    // machine that takes a moment, and a probe meanwhile is reset or times out instead.
    await expect
      .poll(async () => (await health()).body.modes?.forward?.reason, { timeout: 5_000 })
      .toMatch(/ECONNREFUSED/);
    expect((await health()).body.status).toBe('failing');
    expect((await health('/livez')).status).toBe(200);
    await restartProxy();
    const started = Date.now();
    await expect.poll(async () => (await health()).status, { timeout: 5_000, interval: 50 }).toBe(200);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('answers 503 while the proxy is hung (SIGSTOP), and 200 after it resumes', async () => {
    const stopped = fleet.proxy.child;
    // Stop the whole process group member by member: the primary and its workers.
    const pids = [stopped.pid!, ...(await workerPids(stopped.pid!))];
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      await expect.poll(async () => (await health()).status, { timeout: 5_000 }).toBe(503);
      expect((await health()).body.modes?.tunnel?.reason).toMatch(/within 500 ms/);
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await expect.poll(async () => (await health()).status, { timeout: 5_000 }).toBe(200);
  });

  it('answers 503 for a fake proxy that accepts TCP and says 200 to everything', async () => {
    const answer = await healthWithFakeProxy('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    expect(answer.body.modes?.forward?.reason).toMatch(/did not echo the nonce/);
    expect(answer.body.modes?.tunnel?.ok).toBe(false);
  });
});

describe('probe failure reasons', () => {
  it('names the status a proxy refused both modes with, without waiting for the timeout', async () => {
    const answer = await healthWithFakeProxy(
      'HTTP/1.1 403 Forbidden\r\nx-egress-proxy-reason: host_not_allowed\r\nContent-Length: 0\r\n\r\n',
    );
    expect(answer.body.modes?.forward?.reason).toBe('proxy answered 403 (host_not_allowed)');
    expect(answer.body.modes?.tunnel?.reason).toBe('proxy answered 403 to CONNECT');
  });
});

describe('other endpoints', () => {
  it('/target echoes a hex nonce and refuses anything else', async () => {
    const echo = await exchange(
      fleet.config.health.port,
      'GET /target?nonce=00ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(echo.body).toBe('00ff');
    const bad = await exchange(
      fleet.config.health.port,
      'GET /target?nonce=<x> HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(bad.status).toBe(400);
  });

  it('/drain makes /healthcheck answer 503 draining until it is cancelled', async () => {
    expect((await health('/drain', 'POST')).body.status).toBe('draining');
    const draining = await health();
    expect(draining.status).toBe(503);
    expect(draining.body.status).toBe('draining');
    expect((await health('/drain', 'DELETE')).body.status).toBe('serving');
    expect((await health()).status).toBe(200);
  });

  it('405 for other methods, 404 for other paths', async () => {
    expect((await health('/healthcheck', 'POST')).status).toBe(405);
    expect((await health('/nope')).status).toBe(404);
  });

  it('names the version the proxy reports, not one of its own: a proxy reload shows at once', async () => {
    const before = (await health('/livez')).body.policyVersion;
    fleet.writeConfig({ ...fleet.config, allow: ['example.com', 'example.org'] });
    fleet.proxy.child.kill('SIGHUP');
    await fleet.proxy.waitForLog(
      (line) => line.msg === 'policy reloaded' && line.pid === fleet.proxy.child.pid,
    );
    await expect.poll(async () => (await health('/livez')).body.policyVersion).not.toBe(before);
    expect((await health('/livez')).body.policyVersion).toMatch(/^[0-9a-f]{12}$/);
  });

  it('/livez answers 200 with no version while the proxy is down', async () => {
    await fleet.proxy.stop();
    try {
      await expect.poll(async () => (await health('/livez')).body.policyVersion).toBeNull();
      expect((await health('/livez')).status).toBe(200);
    } finally {
      await restartProxy();
    }
  });
});

/**
 * Replaces the proxy with a fake that gives every request `answer`, waits for /healthcheck to
 * turn 503 and returns that answer; then restarts the real proxy and waits for 200 again.
 */
async function healthWithFakeProxy(answer: string): Promise<Health> {
  await fleet.proxy.stop();
  const fake = await fakeProxy(fleet.config.proxy.port, answer);
  let failing: Health;
  try {
    await expect.poll(async () => (await health()).status, { timeout: 5_000 }).toBe(503);
    failing = await health();
  } finally {
    await new Promise((resolve) => fake.close(resolve));
  }
  await restartProxy();
  await expect.poll(async () => (await health()).status, { timeout: 5_000 }).toBe(200);
  return failing;
}

/** Accepts TCP on the proxy port and gives every request the same answer, forwarding nothing. */
async function fakeProxy(port: number, answer: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.on('data', () => socket.write(answer));
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The proxy's worker processes (children of its primary). */
async function workerPids(primary: number): Promise<number[]> {
  const { readFile } = await import('node:fs/promises');
  const children = await readFile(`/proc/${primary}/task/${primary}/children`, 'utf8');
  return children.trim().split(/\s+/).filter(Boolean).map(Number);
}
