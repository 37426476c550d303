/** The figures of a run, turned into the table's lines. */
import type { Line } from './report.js';
import type { IdleMemoryResult } from './workloads/idle-memory.js';
import type { NewTunnelsResult } from './workloads/new-tunnels.js';
import type { RequestsResult } from './workloads/requests.js';
import type { ThroughputResult } from './workloads/throughput.js';

/** Each target's results, one per repeat. */
export type Runs<R> = Record<string, R[]>;

export interface RunResults {
  readonly bulk1: Runs<ThroughputResult>;
  readonly bulk8: Runs<ThroughputResult>;
  readonly tunnels: Runs<NewTunnelsResult>;
  readonly requests: Runs<RequestsResult>;
  /** Once per proxy, on the fresh proxy. */
  readonly memory: Record<string, IdleMemoryResult>;
  /** RSS of each proxy's whole tree right after start, and after every workload, KiB. */
  readonly freshKiB: Record<string, number>;
  readonly afterKiB: Record<string, number>;
  /** PSS of each proxy's whole tree right after start, KiB. */
  readonly freshPssKiB: Record<string, number>;
}

export interface LineSettings {
  readonly connections: number;
  readonly concurrency: number;
  readonly idleTunnels: number;
}

function pick<R>(runs: Runs<R>, value: (result: R) => number | null): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(runs).map(([name, results]) => [
      name,
      results.map(value).filter((figure): figure is number => figure !== null),
    ]),
  );
}

function once(figures: Record<string, number>, scale = 1): Record<string, number[]> {
  return Object.fromEntries(Object.entries(figures).map(([name, figure]) => [name, [figure * scale]]));
}

/** CPU seconds per unit of work, times `scale` (1e6 for µs). */
function cpuPer(cpuPercent: number | null, perSecond: number, scale: number): number | null {
  return cpuPercent === null || perSecond === 0 ? null : ((cpuPercent / 100) * scale) / perSecond;
}

export function rateLines(results: RunResults, settings: LineSettings): Line[] {
  const { bulk1, bulk8, tunnels, requests, memory, freshKiB } = results;
  const squid = { kind: 'squid' } as const;
  return [
    {
      label: 'CONNECT bulk, 1 stream',
      unit: 'MB/s',
      better: 'higher',
      target: squid,
      values: pick(bulk1, (r) => r.mbPerSecond),
    },
    {
      label: 'CONNECT bulk, 8 streams',
      unit: 'MB/s',
      better: 'higher',
      target: squid,
      values: pick(bulk8, (r) => r.mbPerSecond),
    },
    {
      label: `new tunnels, c=${settings.concurrency}`,
      unit: '/s',
      better: 'higher',
      target: squid,
      values: pick(tunnels, (r) => r.perSecond),
    },
    {
      label: 'new tunnel, CONNECT->200 p50',
      unit: 'ms',
      better: 'lower',
      values: pick(tunnels, (r) => r.setup.percentile(50)),
    },
    {
      label: 'new tunnel, CONNECT->200 p99',
      unit: 'ms',
      better: 'lower',
      target: squid,
      values: pick(tunnels, (r) => r.setup.percentile(99)),
    },
    {
      label: 'new tunnel, whole exchange p99',
      unit: 'ms',
      better: 'lower',
      target: squid,
      values: pick(tunnels, (r) => r.total.percentile(99)),
    },
    {
      label: `absolute-form keep-alive, c=${settings.connections}`,
      unit: 'req/s',
      better: 'higher',
      target: squid,
      values: pick(requests, (r) => r.perSecond),
    },
    {
      label: 'request p50',
      unit: 'ms',
      better: 'lower',
      values: pick(requests, (r) => r.latency.percentile(50)),
    },
    {
      label: 'request p99',
      unit: 'ms',
      better: 'lower',
      target: squid,
      values: pick(requests, (r) => r.latency.percentile(99)),
    },
    {
      label: `RSS per idle tunnel (${settings.idleTunnels})`,
      unit: 'KiB',
      better: 'lower',
      target: { kind: 'max', limit: 10 },
      values: once(Object.fromEntries(Object.entries(memory).map(([name, r]) => [name, r.kibPerTunnel]))),
    },
    {
      label: 'RSS of the idle process tree, fresh',
      unit: 'MiB',
      better: 'lower',
      target: { kind: 'max', limit: 100 },
      values: once(freshKiB, 1 / 1024),
    },
    {
      label: 'PSS of the idle process tree, fresh',
      unit: 'MiB',
      better: 'lower',
      values: once(results.freshPssKiB, 1 / 1024),
    },
    {
      label: 'RSS of the idle process tree, after the run',
      unit: 'MiB',
      better: 'lower',
      values: once(results.afterKiB, 1 / 1024),
    },
  ];
}

/** CPU per unit of work, from /proc over the measured window: steadier than the rates. */
export function cpuLines(results: RunResults): Line[] {
  const { bulk1, bulk8, tunnels, requests } = results;
  const squid = { kind: 'squid' } as const;
  return [
    {
      label: 'CPU per GB relayed, 1 stream',
      unit: 'CPU-s',
      better: 'lower',
      target: squid,
      values: pick(bulk1, (r) => cpuPer(r.cpuPercent, r.mbPerSecond, 1e3)),
    },
    {
      label: 'CPU per GB relayed, 8 streams',
      unit: 'CPU-s',
      better: 'lower',
      target: squid,
      values: pick(bulk8, (r) => cpuPer(r.cpuPercent, r.mbPerSecond, 1e3)),
    },
    {
      label: 'CPU per new tunnel',
      unit: 'us',
      better: 'lower',
      target: squid,
      values: pick(tunnels, (r) => cpuPer(r.cpuPercent, r.perSecond, 1e6)),
    },
    {
      label: 'CPU per forwarded request',
      unit: 'us',
      better: 'lower',
      target: squid,
      values: pick(requests, (r) => cpuPer(r.cpuPercent, r.perSecond, 1e6)),
    },
    {
      label: 'CPU while forwarding requests',
      unit: '% of one core',
      better: 'lower',
      values: pick(requests, (r) => r.cpuPercent),
    },
  ];
}
