/**
 * `npm run bench`: this proxy beside direct connections and squid, on loopback, in one run.
 * Workloads run one after the other; within each, every target gets the same window in turn, so
 * machine noise hits them alike. Prints a table of figures, ratios and targets.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startOrigin, type Origin } from './loopback-origin.js';
import { startOurProxy } from './ours.js';
import { renderTable, failures, type Line } from './report.js';
import { findSquid, squidVersion, startSquid } from './squid.js';
import type { Window } from './stats.js';
import { DIRECT, type RunningProxy, type Target } from './target.js';
import { idleMemory } from './workloads/idle-memory.js';
import { newTunnels } from './workloads/new-tunnels.js';
import { requests } from './workloads/requests.js';
import { throughput } from './workloads/throughput.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '16' },
    'idle-tunnels': { type: 'string', default: '2000' },
    workers: { type: 'string', default: 'auto' },
    'no-squid': { type: 'boolean', default: false },
    'no-warn': { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(
    [
      'npm run bench -- [options]',
      '  --duration S       measured seconds per target and workload (5)',
      '  --warmup S         unmeasured seconds before each (1)',
      '  --connections N    keep-alive clients for absolute-form requests (64)',
      '  --concurrency N    parallel loops opening new tunnels (16)',
      '  --idle-tunnels N   tunnels held open for the memory figure (2000)',
      '  --workers N|auto   our proxy workers, and squid SMP workers (auto = one per core)',
      '  --no-squid         skip squid even if it is installed',
      '  --no-warn          skip the extra run of our proxy at log level "warn"',
      '  --keep-logs        keep the temp dir with configs and logs',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

const positive = (name: string, text: string): number => {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  if (name !== 'duration' && name !== 'warmup' && !Number.isInteger(value))
    throw new Error(`--${name} must be a whole number`);
  return value;
};
const window: Window = {
  warmupMs: positive('warmup', args.warmup) * 1_000,
  durationMs: positive('duration', args.duration) * 1_000,
};
const connections = positive('connections', args.connections);
const concurrency = positive('concurrency', args.concurrency);
const idleTunnels = positive('idle-tunnels', args['idle-tunnels']);
const workers = args.workers === 'auto' ? availableParallelism() : positive('workers', args.workers);

const log = (message: string): void => void process.stderr.write(`${message}\n`);

const root = mkdtempSync(join(tmpdir(), 'egress-bench-'));
// Squid drops root for its own user, which must reach its directory inside this one.
chmodSync(root, 0o711);
const dir = (name: string): string => {
  const path = join(root, name);
  mkdirSync(path);
  return path;
};
let origin: Origin | undefined;
const proxies: RunningProxy[] = [];

async function shutdown(): Promise<void> {
  await Promise.allSettled(proxies.map((proxy) => proxy.stop()));
  await origin?.stop();
  if (args['keep-logs']) log(`configs and logs kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
process.once('SIGINT', () => {
  log('interrupted; stopping what this run started');
  void shutdown().finally(() => process.exit(130));
});

async function main(): Promise<void> {
  let squidBinary = args['no-squid'] ? null : findSquid();
  const squid = squidBinary ? squidVersion(squidBinary) : null;
  let squidSkipped: string | null = args['no-squid']
    ? 'squid skipped (--no-squid), so no ratios to squid.'
    : squidBinary
      ? null
      : 'squid skipped: not on PATH, so no ratios to squid. Install it to compare: apt-get install -y squid';
  const started = Date.now();

  origin = await startOrigin();
  const { ports } = origin;
  const ours = await startOurProxy({
    name: 'ours',
    dir: dir('ours'),
    origin: ports,
    logLevel: 'info',
    workers,
  });
  proxies.push(ours);
  if (!args['no-warn']) {
    proxies.push(
      await startOurProxy({
        name: 'ours (warn)',
        dir: dir('ours-warn'),
        origin: ports,
        logLevel: 'warn',
        workers,
      }),
    );
  }
  if (squidBinary) {
    try {
      proxies.push(await startSquid({ binary: squidBinary, dir: dir('squid'), origin: ports, workers }));
    } catch (error) {
      squidSkipped = `squid skipped: it did not start (${(error as Error).message.trim()})`;
      squidBinary = null;
    }
  }
  const targets: Target[] = [DIRECT, ...proxies];
  const columns = targets.map((target) => target.name);

  const machine = [
    `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), Linux ${release()}`,
    `node ${process.version}; squid ${squid ?? 'not installed'}; our proxy: ${workers} workers, access log ` +
      `at "info" to a file${args['no-warn'] ? '' : ' ("ours (warn)": same proxy, log level "warn")'}; ` +
      (squidBinary ? `squid: ${workers} SMP workers, no cache, access log to a file` : ''),
    `each figure: ${window.warmupMs / 1_000} s warm-up, then ${window.durationMs / 1_000} s measured; ` +
      `load average at start ${loadavg()
        .map((value) => value.toFixed(2))
        .join(' ')}`,
  ];
  for (const line of machine) log(line);
  if (squidSkipped) log(squidSkipped);

  const byTarget = async <R>(workload: string, run: (target: Target) => Promise<R>, only = targets) => {
    const results: Record<string, R> = {};
    for (const target of only) {
      log(`  ${workload}: ${target.name} ...`);
      results[target.name] = await run(target);
    }
    return results;
  };
  const pick = <R>(results: Record<string, R>, value: (result: R) => number | null) =>
    Object.fromEntries(Object.entries(results).map(([name, result]) => [name, value(result)]));

  // Memory first, while the proxies are fresh and nothing else has grown their heaps.
  const memory = await byTarget(
    'idle tunnels',
    (target) => idleMemory(target, ports.hold, idleTunnels),
    proxies,
  );
  const single = await byTarget('throughput, 1 stream', (target) =>
    throughput(target, ports.source, 1, window),
  );
  const eight = await byTarget('throughput, 8 streams', (target) =>
    throughput(target, ports.source, 8, window),
  );
  const opened = await byTarget('new tunnels', (target) =>
    newTunnels(target, ports.echo, concurrency, window),
  );
  const served = await byTarget('requests', (target) => requests(target, ports.http, connections, window));

  const lines: Line[] = [
    {
      label: 'CONNECT throughput, 1 stream',
      unit: 'MB/s',
      better: 'higher',
      target: { kind: 'squid' },
      values: pick(single, (r) => r.mbPerSecond),
    },
    {
      label: 'CONNECT throughput, 8 streams',
      unit: 'MB/s',
      better: 'higher',
      target: { kind: 'squid' },
      values: pick(eight, (r) => r.mbPerSecond),
    },
    {
      label: `new tunnels, ${concurrency} loops`,
      unit: '/s',
      better: 'higher',
      target: { kind: 'squid' },
      values: pick(opened, (r) => r.perSecond),
    },
    {
      label: 'CONNECT->200 p50',
      unit: 'ms',
      better: 'lower',
      values: pick(opened, (r) => r.setup.percentile(50)),
    },
    {
      label: 'CONNECT->200 p99',
      unit: 'ms',
      better: 'lower',
      target: { kind: 'squid' },
      values: pick(opened, (r) => r.setup.percentile(99)),
    },
    {
      label: 'echo in new tunnel p50',
      unit: 'ms',
      better: 'lower',
      values: pick(opened, (r) => r.echo.percentile(50)),
    },
    {
      label: 'echo in new tunnel p99',
      unit: 'ms',
      better: 'lower',
      values: pick(opened, (r) => r.echo.percentile(99)),
    },
    {
      label: `absolute-form requests, ${connections} conns`,
      unit: '/s',
      better: 'higher',
      target: { kind: 'squid' },
      values: pick(served, (r) => r.perSecond),
    },
    {
      label: 'request p50',
      unit: 'ms',
      better: 'lower',
      values: pick(served, (r) => r.latency.percentile(50)),
    },
    {
      label: 'request p99',
      unit: 'ms',
      better: 'lower',
      target: { kind: 'squid' },
      values: pick(served, (r) => r.latency.percentile(99)),
    },
    {
      label: `memory per idle tunnel (${idleTunnels})`,
      unit: 'KiB',
      better: 'lower',
      target: { kind: 'max', limit: 10 },
      values: { direct: null, ...pick(memory, (r) => r.kibPerTunnel) },
    },
  ];
  // CPU per unit of work: less sensitive to a busy machine than the rates above.
  const perUnit = (cpuPercent: number | null, perSecond: number): number | null =>
    cpuPercent === null || perSecond === 0 ? null : ((cpuPercent / 100) * 1e6) / perSecond;
  const cpuLines: Line[] = [
    {
      label: 'proxy CPU per MB, 1 stream',
      unit: 'us',
      better: 'lower',
      values: pick(single, (r) => perUnit(r.cpuPercent, r.mbPerSecond)),
    },
    {
      label: 'proxy CPU per MB, 8 streams',
      unit: 'us',
      better: 'lower',
      values: pick(eight, (r) => perUnit(r.cpuPercent, r.mbPerSecond)),
    },
    {
      label: 'proxy CPU per new tunnel',
      unit: 'us',
      better: 'lower',
      values: pick(opened, (r) => perUnit(r.cpuPercent, r.perSecond)),
    },
    {
      label: 'proxy CPU per request',
      unit: 'us',
      better: 'lower',
      values: pick(served, (r) => perUnit(r.cpuPercent, r.perSecond)),
    },
    {
      label: 'proxy CPU during requests',
      unit: '% of one core',
      better: 'lower',
      values: pick(served, (r) => r.cpuPercent),
    },
  ];

  const out = (text = ''): void => void process.stdout.write(`${text}\n`);
  out();
  for (const line of machine) out(line);
  out();
  out(renderTable(columns, lines));
  out();
  out(renderTable(columns, cpuLines));
  out();
  const errors = (name: string, results: Record<string, { errors: number }>) =>
    `${name}: ${Object.entries(results)
      .map(([target, result]) => `${target} ${result.errors}`)
      .join(', ')}`;
  out(`errors (excluded from the figures) - ${errors('new tunnels', opened)}; ${errors('requests', served)}`);
  out(
    `RSS of the process tree, idle -> with ${idleTunnels} tunnels (KiB): ` +
      Object.entries(memory)
        .map(([name, r]) => `${name} ${r.baselineKiB} -> ${r.loadedKiB}`)
        .join('; '),
  );
  if (squidSkipped) out(squidSkipped);
  const missed = failures(lines);
  out(missed.length ? `targets missed: ${missed.join('; ')}` : 'all targets hold.');
  out(
    `load average at end ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}; took ${Math.round((Date.now() - started) / 1_000)} s`,
  );
}

try {
  await main();
} finally {
  await shutdown();
}
