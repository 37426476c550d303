import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dial, exchange, readResponse, tunnel } from '../client.js';
import { run, startProxy, type Fleet } from '../harness.js';
import { startTcpOrigin, type TcpOrigin } from '../origins.js';
import { connectOutcome } from '../tunnel-clients.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function echoOrigin(): Promise<TcpOrigin> {
  const origin = await startTcpOrigin((socket) => {
    socket.on('data', (data) => socket.write(data));
    socket.on('end', () => socket.end());
  });
  cleanups.push(() => origin.close());
  return origin;
}

async function proxyFor(
  origin: TcpOrigin,
  settings: Partial<Parameters<typeof startProxy>[0]> = {},
): Promise<Fleet> {
  const fleet = await startProxy({
    allow: ['localhost'],
    allowPorts: [origin.port],
    allowCidrs: ['127.0.0.0/8'],
    ...settings,
  });
  cleanups.push(() => fleet.stop());
  return fleet;
}

async function roundTrip(socket: import('node:net').Socket, text: string): Promise<string> {
  socket.write(text);
  const answer = new Promise<string>((resolve) => socket.once('data', (data) => resolve(data.toString())));
  socket.resume();
  return answer;
}

describe('SIGTERM drain', () => {
  it('stops accepting, lets an open tunnel finish, then exits 0', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin, { timeouts: { drainMs: 20_000 } });
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    fleet.proxy.child.kill('SIGTERM');
    await fleet.proxy.waitForLog((line) => line.msg === 'draining' && line.tunnels === 1);
    // New connections are refused once every worker has closed its listener.
    await expect.poll(() => connectOutcome(fleet.config.proxy.port)).toBe('ECONNREFUSED');
    expect(await roundTrip(socket, 'still here')).toBe('still here');
    const started = Date.now();
    socket.end();
    expect(await fleet.proxy.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('closes what is left at the drain deadline and still exits 0', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin, { timeouts: { drainMs: 500 } });
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    const ended = new Promise((resolve) => socket.once('end', resolve));
    socket.resume();
    fleet.proxy.child.kill('SIGTERM');
    await ended;
    expect(await fleet.proxy.exited).toBe(0);
    expect(fleet.proxy.logs.some((line) => line.msg === 'drain deadline: closing what is left')).toBe(true);
  });
});

describe('SIGHUP reload', () => {
  it('applies a new allowlist without dropping an open tunnel, and keeps the old one when the new file is invalid', async () => {
    const origin = await echoOrigin();
    const other = await echoOrigin();
    const fleet = await proxyFor(origin);
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    const connectOther = async (): Promise<number> =>
      (await exchange(fleet.config.proxy.port, `CONNECT localhost:${other.port} HTTP/1.1\r\n\r\n`)).status;
    expect(await connectOther()).toBe(403);

    fleet.writeConfig({ ...fleet.config, allowPorts: [origin.port, other.port] });
    fleet.proxy.child.kill('SIGHUP');
    await fleet.proxy.waitForLog((line) => line.msg === 'policy reloaded' && line.proc === 'proxy');
    await expect.poll(connectOther).toBe(200);
    expect(await roundTrip(socket, 'survived')).toBe('survived');

    fleet.writeConfig({ ...fleet.config, allowPorts: [origin.port, other.port], allow: ['not a pattern'] });
    fleet.proxy.child.kill('SIGHUP');
    const rejected = await fleet.proxy.waitForLog(
      (line) => line.msg === 'reload rejected; keeping the policy in force',
    );
    expect(rejected.key).toBe('allow[0]');
    expect(await connectOther()).toBe(200);
    socket.destroy();
  });
});

describe('the policy file and POST /reload', () => {
  const control = (fleet: Fleet, request: string): ReturnType<typeof exchange> =>
    exchange(fleet.config.metrics.port, `${request} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

  it('overlays the policy file on the config, on POST /reload as on SIGHUP, without dropping a tunnel', async () => {
    const origin = await echoOrigin();
    const other = await echoOrigin();
    const policyFile = join(mkdtempSync(join(tmpdir(), 'egress-policy-')), 'policy.json');
    const fleet = await proxyFor(origin, { policy: { file: policyFile } });
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    const connectOther = async (): Promise<number> =>
      (await exchange(fleet.config.proxy.port, `CONNECT localhost:${other.port} HTTP/1.1\r\n\r\n`)).status;
    expect(await connectOther()).toBe(403);

    // The file replaces all three lists (localhost resolves to loopback: it needs allowCidrs).
    const policy = {
      allow: ['localhost'],
      allowPorts: [origin.port, other.port],
      allowCidrs: ['127.0.0.0/8'],
    };
    writeFileSync(policyFile, JSON.stringify(policy));
    const reloaded = await control(fleet, 'POST /reload');
    expect(reloaded.status).toBe(200);
    expect(JSON.parse(reloaded.body)).toEqual({
      ok: true,
      policyVersion: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    await expect.poll(connectOther).toBe(200);
    expect(await roundTrip(socket, 'survived')).toBe('survived');
    const version = (JSON.parse(reloaded.body) as { policyVersion: string }).policyVersion;
    const metrics = await control(fleet, 'GET /metrics');
    expect(metrics.body).toMatch(new RegExp(`^egress_proxy_policy_info\\{version="${version}"\\} 2$`, 'm'));

    writeFileSync(policyFile, JSON.stringify({ ...policy, allowPorts: [0] }));
    const refused = await control(fleet, 'POST /reload');
    expect(refused.status).toBe(422);
    expect(JSON.parse(refused.body)).toMatchObject({
      ok: false,
      code: 'EGRESS_CONFIG_INVALID',
      key: 'allowPorts[0]',
      problem: expect.stringContaining(`in the policy file ${policyFile}`),
    });
    expect(await connectOther()).toBe(200);
    expect(await roundTrip(socket, 'still here')).toBe('still here');
    socket.destroy();
  });

  it('starts on the policy file it finds, and refuses to start on an invalid one', async () => {
    const origin = await echoOrigin();
    const policyFile = join(mkdtempSync(join(tmpdir(), 'egress-policy-')), 'policy.json');
    writeFileSync(
      policyFile,
      JSON.stringify({ allow: ['localhost'], allowPorts: [origin.port], allowCidrs: ['127.0.0.0/8'] }),
    );
    const fleet = await proxyFor(origin, { allow: [], allowCidrs: [], policy: { file: policyFile } });
    expect(
      (await exchange(fleet.config.proxy.port, `CONNECT localhost:${origin.port} HTTP/1.1\r\n\r\n`)).status,
    ).toBe(200);

    writeFileSync(policyFile, '{"allow": ["*.com"]}');
    const proxy = run('proxy', fleet.configFile);
    expect(await proxy.exited).toBe(78);
    expect(proxy.stderr()).toContain(
      `config key "allow[0]": "*.com" would allow every name under a top-level domain (in the policy file ${policyFile})`,
    );
  });
});

describe('limits.maxConnections', () => {
  it('answers 503 beyond the limit counted across all workers, and admits again once connections close', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin, { limits: { maxConnections: 4 }, proxy: { workers: 2 } });
    const held = await Promise.all(Array.from({ length: 4 }, () => dial(fleet.config.proxy.port)));
    // Let the workers' counts reach each other through the primary.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refused = await Promise.all(
      Array.from({ length: 2 }, () =>
        exchange(fleet.config.proxy.port, `CONNECT localhost:${origin.port} HTTP/1.1\r\n\r\n`),
      ),
    );
    expect(refused.map((response) => response.status)).toEqual([503, 503]);
    expect(refused[0]!.headers['x-egress-proxy-reason']).toBe('too_many_connections');
    for (const socket of held) socket.destroy();
    await expect
      .poll(
        async () =>
          (await exchange(fleet.config.proxy.port, `CONNECT localhost:${origin.port} HTTP/1.1\r\n\r\n`))
            .status,
      )
      .toBe(200);
  });
});

describe('metrics', () => {
  it('serves Prometheus text on the loopback metrics port, summed across workers', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin);
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    await exchange(fleet.config.proxy.port, 'CONNECT denied.example:443 HTTP/1.1\r\n\r\n');
    const metrics = await exchange(
      fleet.config.metrics.port,
      'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    socket.destroy();
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^egress_proxy_open_tunnels 1$/m);
    expect(metrics.body).toMatch(
      /^egress_proxy_requests_total\{kind="tunnel",decision="denied",status="403"\} 1$/m,
    );
    expect(metrics.body).toMatch(/^egress_proxy_upstream_connect_seconds_count \d+$/m);
    // The largest worker's, of the one connect made: a time, not the 0 of an empty window.
    const p99 = /^egress_proxy_upstream_connect_recent_seconds\{quantile="0.99"\} (\S+)$/m.exec(metrics.body);
    expect(Number(p99?.[1])).toBeGreaterThan(0);
    expect(metrics.body).toMatch(/^egress_proxy_policy_info\{version="[0-9a-f]{12}"\} 2$/m);
  });
});

describe('start', () => {
  it('serves when the workers load asynchronously (an --import preload)', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin, { proxy: { workers: 2 } });
    await fleet.stop();
    // Such a worker's code runs after Node reports it online; a config sent then would be lost.
    const preload = join(mkdtempSync(join(tmpdir(), 'egress-proxy-preload-')), 'preload.mjs');
    writeFileSync(preload, '// an empty module: loading it is what makes the worker late\n');
    const preloaded = run('proxy', fleet.configFile, { NODE_OPTIONS: `--import=${preload}` });
    cleanups.push(() => preloaded.stop());
    await preloaded.waitForLog((line) => line.msg === 'proxy listening');
    const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    expect(await roundTrip(socket, 'preloaded')).toBe('preloaded');
    socket.destroy();
  });
});

describe('worker failure', () => {
  it('replaces a worker that dies, and the proxy keeps serving meanwhile', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin, { proxy: { workers: 2 } });
    const workers = (): number[] =>
      readFileSync(`/proc/${fleet.proxy.child.pid}/task/${fleet.proxy.child.pid}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number);
    const [victim] = workers();
    process.kill(victim!, 'SIGKILL');
    const replaced = await fleet.proxy.waitForLog(
      (line) => line.msg === 'worker exited; starting a replacement',
    );
    expect(replaced).toMatchObject({ worker: victim, signal: 'SIGKILL' });
    const connect = async (): Promise<number> =>
      (await exchange(fleet.config.proxy.port, `CONNECT localhost:${origin.port} HTTP/1.1\r\n\r\n`)).status;
    expect(await connect()).toBe(200);
    await expect.poll(() => workers().length, { timeout: 5_000 }).toBe(2);
    expect(workers()).not.toContain(victim);
    expect(await connect()).toBe(200);
  });
});

describe('start-up', () => {
  it('exits 78 before listening, naming the bad key on stderr', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'egress-proxy-test-')), 'config.json');
    writeFileSync(file, JSON.stringify({ allow: ['example.com'], timeouts: { connectMs: 'soon' } }));
    for (const name of ['proxy', 'sidecar'] as const) {
      const process = run(name, file);
      expect(await process.exited).toBe(78);
      expect(process.stderr()).toBe(
        `egress-proxy ${name}: config key "timeouts.connectMs": must be an integer from 1 to 600000, got "soon"\n`,
      );
    }
  });

  it('exits 78 for a missing file and for invalid JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egress-proxy-test-'));
    writeFileSync(join(dir, 'broken.json'), '{ "allow": [');
    const missing = run('proxy', join(dir, 'missing.json'));
    const broken = run('proxy', join(dir, 'broken.json'));
    expect(await missing.exited).toBe(78);
    expect(missing.stderr()).toMatch(/cannot read .*missing\.json/);
    expect(await broken.exited).toBe(78);
    expect(broken.stderr()).toMatch(/broken\.json is not valid JSON/);
  });
});

describe('keep-alive while draining', () => {
  it('closes idle kept-alive client connections at once', async () => {
    const origin = await echoOrigin();
    const fleet = await proxyFor(origin, { timeouts: { drainMs: 5_000 } });
    const hold = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
    const kept = await dial(fleet.config.proxy.port);
    kept.write('GET http://denied.example/ HTTP/1.1\r\nHost: denied.example\r\n\r\n');
    expect((await readResponse(kept)).status).toBe(403);
    const closedByProxy = new Promise<string>((resolve) => kept.once('end', () => resolve('closed')));
    fleet.proxy.child.kill('SIGTERM');
    await expect
      .poll(
        () => fleet.proxy.logs.filter((line) => line.msg === 'draining' && line.tunnels !== undefined).length,
      )
      .toBe(2);
    // The drain closes idle kept-alive connections, so clients reconnect to another instance.
    expect(await closedByProxy).toBe('closed');
    hold.destroy();
  });
});
