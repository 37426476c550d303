/**
 * `npm run bench`: this proxy beside direct connections and squid (one worker, and one per core),
 * on loopback, in one run. Every workload runs `--repeat` rounds; within a round every target gets
 * the same window in turn (the order rotating each round), so machine noise hits them alike.
 * Prints a table of medians, ratios to the better squid, and targets.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuLines, rateLines, type RunResults, type Runs } from './lines.js';
import { startOrigin, type Origin } from './loopback-origin.js';
import { parseOptions, type BenchOptions, type Workload } from './options.js';
import { nodeVersion, startOurProxy } from './ours.js';
import { settledRssKiB, treePssKiB } from './proc.js';
import { failures, renderTable, type Judged } from './report.js';
import { findSquid, squidVersion, startSquid } from './squid.js';
import { DIRECT, type RunningProxy, type Target } from './target.js';
import { idleMemory } from './workloads/idle-memory.js';
import { newTunnels } from './workloads/new-tunnels.js';
import { requests } from './workloads/requests.js';
import { throughput } from './workloads/throughput.js';

/** Upper bounds for the watchdog: a run that takes longer than these add up to is stuck. */
const START_BOUND_S = 30;
const MEMORY_BOUND_S = 60;
const WINDOW_SLACK_S = 20;

const log = (message: string): void => void process.stderr.write(`${message}\n`);
const out = (text = ''): void => void process.stdout.write(`${text}\n`);
const loadAverage = (): string =>
  loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');

const root = mkdtempSync(join(tmpdir(), 'egress-bench-'));
// Squid drops root for its own user, which must reach its directory inside this one.
chmodSync(root, 0o711);
const dir = (name: string): string => {
  const path = join(root, name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(path);
  return path;
};
let origin: Origin | undefined;
const proxies: RunningProxy[] = [];
let keepLogs = false;

async function shutdown(): Promise<void> {
  await Promise.allSettled(proxies.map((proxy) => proxy.stop()));
  await origin?.stop();
  if (keepLogs) log(`configs and logs kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
process.once('SIGINT', () => {
  log('interrupted; stopping what this run started');
  void shutdown().finally(() => process.exit(130));
});

/** Starts our variants and the squids; returns a note for each squid that could not run. */
async function startProxies(options: BenchOptions, ports: Origin['ports']): Promise<string[]> {
  for (const variant of options.variants) {
    proxies.push(
      await startOurProxy({ ...variant, dir: dir(variant.name), origin: ports, workers: options.workers }),
    );
  }
  if (!options.squid) return ['squid skipped (--no-squid), so no ratios to squid.'];
  const binary = findSquid();
  if (!binary) return ['squid skipped: not on PATH. Install it to compare: apt-get install -y squid'];
  const notes: string[] = [];
  for (const workers of new Set([1, options.workers])) {
    const name = `squid ${workers}w`;
    try {
      proxies.push(await startSquid({ name, binary, dir: dir(name), origin: ports, workers }));
    } catch (error) {
      notes.push(`${name} skipped: it did not start (${(error as Error).message.trim()})`);
    }
  }
  return notes;
}

function watchdog(options: BenchOptions, targets: number): NodeJS.Timeout {
  const { window, repeat, workloads } = options;
  const rounds = [...workloads].filter((workload) => workload !== 'memory').length * repeat * targets;
  const boundS =
    proxies.length * START_BOUND_S +
    (workloads.has('memory') ? MEMORY_BOUND_S + (2 * options.idleSettleMs) / 1_000 : 0) +
    rounds * ((window.warmupMs + window.durationMs) / 1_000 + WINDOW_SLACK_S);
  return setTimeout(() => {
    log(`the run took longer than its bound (${Math.round(boundS)} s); stopping`);
    void shutdown().finally(() => process.exit(1));
  }, boundS * 1_000);
}

async function main(options: BenchOptions): Promise<void> {
  const started = Date.now();
  origin = await startOrigin();
  const { ports } = origin;
  const notes = await startProxies(options, ports);
  const targets: Target[] = [DIRECT, ...proxies];
  const columns = targets.map((target) => target.name);
  const squids = proxies.filter((proxy) => proxy.name.startsWith('squid')).map((proxy) => proxy.name);
  const judged: Judged = { ours: 'ours', references: squids };
  const timer = watchdog(options, targets.length);

  const squidBinary = findSquid();
  const machine = [
    `machine: ${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), Linux ${release()}`,
    `bench, client and origin: node ${process.version}; ` +
      options.variants
        .map(
          (v) =>
            `${v.name}: node ${nodeVersion(v.node)}${v.nodeArgs.length ? ` ${v.nodeArgs.join(' ')}` : ''}`,
        )
        .join('; ') +
      `; ${options.workers} workers, log level per column (ours: "info", access log to a file)`,
    `squid ${squidBinary ? squidVersion(squidBinary) : 'not installed'}: ${squids.join(', ') || 'none'} ` +
      '(SMP workers), no cache, access log to a file',
    `each figure: median of ${options.repeat} rounds, each ${options.window.warmupMs / 1_000} s warm-up then ` +
      `${options.window.durationMs / 1_000} s measured; ±x% is half the range of the rounds; ` +
      `load average at start ${loadAverage()}`,
  ];
  for (const line of [...machine, ...notes]) log(line);

  await sleep(1_000);
  const freshKiB: Record<string, number> = {};
  const freshPssKiB: Record<string, number> = {};
  for (const proxy of proxies) {
    freshKiB[proxy.name] = await settledRssKiB(proxy.pid);
    freshPssKiB[proxy.name] = treePssKiB(proxy.pid);
  }

  const results: RunResults = {
    bulk1: {},
    bulk8: {},
    tunnels: {},
    requests: {},
    memory: {},
    freshKiB,
    afterKiB: {},
    freshPssKiB,
  };
  // Memory first, while the proxies are fresh and nothing else has grown their heaps.
  if (options.workloads.has('memory')) {
    log(
      `  idle tunnels: every proxy at once, ${options.idleSettleMs / 1_000} s of quiet before each sample ...`,
    );
    Object.assign(
      results.memory,
      await idleMemory(proxies, ports.hold, options.idleTunnels, options.idleSettleMs),
    );
  }
  const { window } = options;
  const rounds: [Workload, string, Runs<unknown>, (target: Target) => Promise<unknown>][] = [
    ['bulk1', 'CONNECT bulk, 1 stream', results.bulk1, (t) => throughput(t, ports.source, 1, window)],
    ['bulk8', 'CONNECT bulk, 8 streams', results.bulk8, (t) => throughput(t, ports.source, 8, window)],
    [
      'tunnels',
      'new tunnels',
      results.tunnels,
      (t) => newTunnels(t, ports.answer, options.concurrency, window),
    ],
    ['requests', 'requests', results.requests, (t) => requests(t, ports.http, options.connections, window)],
  ];
  for (let round = 0; round < options.repeat; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const [workload, title, runs, run] of rounds) {
      if (!options.workloads.has(workload)) continue;
      for (const target of order) {
        log(`  round ${round + 1}/${options.repeat}, ${title}: ${target.name} ...`);
        (runs[target.name] ??= []).push(await run(target));
      }
    }
  }
  await sleep(2_000);
  for (const proxy of proxies) results.afterKiB[proxy.name] = await settledRssKiB(proxy.pid);
  clearTimeout(timer);

  const lines = rateLines(results, options);
  const cpu = cpuLines(results);
  out();
  for (const line of machine) out(line);
  out();
  out(renderTable(columns, lines, judged));
  out();
  out(renderTable(columns, cpu, judged));
  out();
  const errors = (name: string, runs: Runs<{ errors: number }>): string =>
    `${name}: ${Object.entries(runs)
      .map(([target, list]) => `${target} ${list.reduce((sum, r) => sum + r.errors, 0)}`)
      .join(', ')}`;
  out(
    `errors (excluded from the figures) - ${errors('new tunnels', results.tunnels)}; ${errors('requests', results.requests)}`,
  );
  if (options.workloads.has('memory')) {
    out(
      `RSS of the process tree, idle after a warm-up -> with ${options.idleTunnels} tunnels (KiB): ` +
        Object.entries(results.memory)
          .map(([name, r]) => `${name} ${r.baselineKiB} -> ${r.loadedKiB}`)
          .join('; '),
    );
  }
  for (const note of notes) out(note);
  const missed = failures([...lines, ...cpu], judged);
  out(missed.length ? `targets missed: ${missed.join('; ')}` : 'all targets hold.');
  out(`load average at end ${loadAverage()}; took ${Math.round((Date.now() - started) / 1_000)} s`);
}

try {
  const options = parseOptions(process.argv.slice(2));
  if (options) {
    keepLogs = options.keepLogs;
    await main(options);
  }
} finally {
  await shutdown();
}
