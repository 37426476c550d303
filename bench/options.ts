/** `npm run bench -- [options]`: parsing and checking the command line, and the variants file. */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PROXY_JS } from './ours.js';
import type { Window } from './stats.js';

export const WORKLOADS = ['memory', 'bulk1', 'bulk8', 'tunnels', 'requests'] as const;
export type Workload = (typeof WORKLOADS)[number];

/** One build or configuration of our proxy, as a column of the table. */
export interface Variant {
  readonly name: string;
  readonly js: string;
  readonly node: string;
  readonly nodeArgs: readonly string[];
  readonly logLevel: 'info' | 'warn';
}

export interface BenchOptions {
  readonly window: Window;
  readonly repeat: number;
  readonly connections: number;
  readonly concurrency: number;
  readonly idleTunnels: number;
  /** Quiet before each idle-memory sample, so V8's memory reducer has run. */
  readonly idleSettleMs: number;
  /** Our proxy's workers; squid runs with 1 worker and with this many. */
  readonly workers: number;
  /** `ours` first: the column the targets judge. */
  readonly variants: readonly Variant[];
  readonly workloads: ReadonlySet<Workload>;
  readonly squid: boolean;
  readonly keepLogs: boolean;
}

export const USAGE = [
  'npm run bench -- [options]',
  '  --duration S        measured seconds per target, workload and repeat (4)',
  '  --warmup S          unmeasured seconds before each (1)',
  '  --repeat N          rounds of every workload; figures are medians, ±x% half their range (3)',
  '  --connections N     keep-alive clients for absolute-form requests (64)',
  '  --concurrency N     parallel loops opening new tunnels (64)',
  '  --idle-tunnels N    tunnels held open for the memory figure (2000)',
  '  --idle-settle S     quiet seconds before each memory sample, for V8 to give memory back (25)',
  '  --workers N|auto    our proxy workers, and the larger squid (auto = one per core); squid also runs with 1',
  '  --node PATH         the Node.js binary that runs our proxy (default: the one running the bench)',
  '  --warn              add a column: our proxy at log level "warn" (no access log)',
  '  --variants FILE     add columns: a JSON array of {name, js?, node?, nodeArgs?, logLevel?}',
  `  --workloads LIST    comma-separated subset of ${WORKLOADS.join(',')} (all)`,
  '  --no-squid          skip squid even if it is installed',
  '  --keep-logs         keep the temp dir with configs and logs (and --cpu-prof output)',
  '',
].join('\n');

function positive(name: string, text: string, whole: boolean): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`--${name} must be a positive number, not "${text}"`);
  if (whole && !Number.isInteger(value)) throw new Error(`--${name} must be a whole number, not "${text}"`);
  return value;
}

const VARIANT_KEYS = new Set(['name', 'js', 'node', 'nodeArgs', 'logLevel']);

/** The variants file: each entry checked, every problem named with its place and key. */
function readVariants(file: string, node: string): Variant[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`--variants ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new Error(`--variants ${file}: expected a JSON array`);
  return parsed.map((entry: unknown, i) => {
    const at = `--variants ${file}: [${i}]`;
    if (typeof entry !== 'object' || entry === null) throw new Error(`${at} is not an object`);
    const record = entry as Record<string, unknown>;
    for (const key of Object.keys(record))
      if (!VARIANT_KEYS.has(key)) throw new Error(`${at}.${key} is not a known key`);
    const text = (key: string, fallback?: string): string => {
      const value = record[key] ?? fallback;
      if (typeof value !== 'string' || value === '')
        throw new Error(`${at}.${key} must be a non-empty string`);
      return value;
    };
    const nodeArgs = record.nodeArgs ?? [];
    if (!Array.isArray(nodeArgs) || !nodeArgs.every((arg) => typeof arg === 'string'))
      throw new Error(`${at}.nodeArgs must be an array of strings`);
    const logLevel = text('logLevel', 'info');
    if (logLevel !== 'info' && logLevel !== 'warn')
      throw new Error(`${at}.logLevel must be "info" or "warn"`);
    return {
      name: text('name'),
      js: resolve(text('js', PROXY_JS)),
      node: text('node', node),
      nodeArgs: nodeArgs as string[],
      logLevel,
    };
  });
}

/** The options, or null when --help was asked for (the usage is then printed). */
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  const { values: args } = parseArgs({
    args: [...argv],
    options: {
      duration: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '1' },
      repeat: { type: 'string', default: '3' },
      connections: { type: 'string', default: '64' },
      concurrency: { type: 'string', default: '64' },
      'idle-tunnels': { type: 'string', default: '2000' },
      'idle-settle': { type: 'string', default: '25' },
      workers: { type: 'string', default: 'auto' },
      node: { type: 'string', default: process.execPath },
      warn: { type: 'boolean', default: false },
      variants: { type: 'string' },
      workloads: { type: 'string', default: WORKLOADS.join(',') },
      'no-squid': { type: 'boolean', default: false },
      'keep-logs': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (args.help) {
    process.stdout.write(USAGE);
    return null;
  }
  const workloads = new Set<Workload>();
  for (const name of args.workloads.split(',')) {
    if (!(WORKLOADS as readonly string[]).includes(name))
      throw new Error(`--workloads: "${name}" is not one of ${WORKLOADS.join(', ')}`);
    workloads.add(name as Workload);
  }
  const ours = (name: string, logLevel: Variant['logLevel']): Variant => ({
    name,
    js: PROXY_JS,
    node: args.node,
    nodeArgs: [],
    logLevel,
  });
  const variants = [ours('ours', 'info'), ...(args.warn ? [ours('ours (warn)', 'warn')] : [])];
  if (args.variants) variants.push(...readVariants(args.variants, args.node));
  const names = new Set<string>();
  for (const { name } of variants) {
    if (names.has(name) || name === 'direct' || name.startsWith('squid'))
      throw new Error(`column name "${name}" is taken`);
    names.add(name);
  }
  return {
    window: {
      warmupMs: positive('warmup', args.warmup, false) * 1_000,
      durationMs: positive('duration', args.duration, false) * 1_000,
    },
    repeat: positive('repeat', args.repeat, true),
    connections: positive('connections', args.connections, true),
    concurrency: positive('concurrency', args.concurrency, true),
    idleTunnels: positive('idle-tunnels', args['idle-tunnels'], true),
    idleSettleMs: positive('idle-settle', args['idle-settle'], false) * 1_000,
    workers: args.workers === 'auto' ? availableParallelism() : positive('workers', args.workers, true),
    variants,
    workloads,
    squid: !args['no-squid'],
    keepLogs: args['keep-logs'],
  };
}
