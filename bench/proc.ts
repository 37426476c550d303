/**
 * Process-tree figures from /proc (Linux): the proxies run as a primary and workers (ours) or a
 * master, coordinator and kids (squid); every figure here is summed over the whole tree.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const CLOCK_TICKS_PER_SECOND = 100;

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process is gone
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may contain spaces). */
function statFields(pid: number): string[] | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** `root` and all its descendants that are alive now. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = statFields(Number(entry));
    if (!fields) continue;
    const parent = Number(fields[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    if (readOrNull(`/proc/${pid}/stat`) === null) continue;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** A `kB` field of a /proc file (`status`, `smaps_rollup`), summed over the whole tree. */
function sumOverTree(root: number, file: string, field: string): number {
  const pattern = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm');
  let total = 0;
  for (const pid of processTree(root)) {
    const match = pattern.exec(readOrNull(`/proc/${pid}/${file}`) ?? '');
    if (match) total += Number(match[1]);
  }
  return total;
}

/** Resident set size of the whole tree, KiB (VmRSS of each process, summed). */
export function treeRssKiB(root: number): number {
  return sumOverTree(root, 'status', 'VmRSS');
}

/**
 * Proportional set size of the whole tree, KiB: each page shared by n processes counts 1/n, so
 * the Node binary's text, mapped by every Node process on the machine, is not counted once per
 * worker as RSS counts it.
 */
export function treePssKiB(root: number): number {
  return sumOverTree(root, 'smaps_rollup', 'Pss');
}

/** The median of a few RSS samples `gapMs` apart, so one allocation burst does not decide it. */
export async function settledRssKiB(root: number, samples = 5, gapMs = 200): Promise<number> {
  const values: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i) await sleep(gapMs);
    values.push(treeRssKiB(root));
  }
  values.sort((a, b) => a - b);
  return values[Math.floor(values.length / 2)]!;
}

/** CPU time (user + system) used so far by the whole tree, seconds. */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of stat; index 11 and 12 after the command name.
    if (fields) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** Sends `signal` to each pid that is still there; never to a group or a name. */
export function signalEach(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Waits until none of `pids` is alive, up to `timeoutMs`; true if they all went. */
export async function waitGone(pids: readonly number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter((pid) => {
      const fields = statFields(pid);
      return fields !== null && fields[0] !== 'Z';
    });
    if (alive.length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}
