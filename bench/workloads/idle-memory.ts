/**
 * Memory per idle tunnel: open `count` tunnels to the hold origin (each checked with a one-byte
 * echo), let them sit, and divide the growth of the proxy's RSS (whole process tree) by `count`.
 * Every proxy is measured at once, each sample after `settleMs` of quiet: V8 keeps the young
 * generation it grew while the tunnels opened until its memory reducer runs, about 10-20 s after
 * allocation stops (on Node 22, 11.6 KiB per tunnel 1 s after opening, 6.1 KiB after 20 s).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dial, DIAL_TIMEOUT_MS, type Dialled } from '../client/dial.js';
import { settledRssKiB } from '../proc.js';
import type { Target } from '../target.js';

const WARMUP_TUNNELS = 200;
const OPEN_CONCURRENCY = 100;

export interface IdleMemoryResult {
  readonly kibPerTunnel: number;
  readonly baselineKiB: number;
  readonly loadedKiB: number;
  readonly tunnels: number;
}

async function openChecked(target: Target, holdPort: number): Promise<Dialled> {
  const tunnel = await dial(target, holdPort);
  const { socket } = tunnel;
  await new Promise<void>((resolve, reject) => {
    socket.setTimeout(DIAL_TIMEOUT_MS, () => socket.destroy(new Error(`${target.name}: no echo`)));
    socket.once('error', reject);
    socket.once('data', () => {
      socket.setTimeout(0);
      socket.off('error', reject);
      resolve();
    });
    socket.resume();
    socket.write('.');
  });
  socket.on('error', () => undefined);
  return tunnel;
}

async function openMany(target: Target, holdPort: number, count: number): Promise<Dialled[]> {
  const open: Dialled[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      open.push(await openChecked(target, holdPort));
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker));
  } catch (error) {
    for (const { socket } of open) socket.destroy();
    throw error;
  }
  return open;
}

async function closeAll(tunnels: readonly Dialled[]): Promise<void> {
  for (const { socket } of tunnels) socket.destroy();
  await sleep(500);
}

export async function idleMemory(
  targets: readonly Target[],
  holdPort: number,
  count: number,
  settleMs: number,
): Promise<Record<string, IdleMemoryResult>> {
  const pids = targets.map((target) => {
    if (target.pid === null) throw new Error('idle memory is measured on a proxy');
    return target.pid;
  });
  // Code paths compiled and pools sized first, so the growth below is the tunnels' own.
  await Promise.all(
    targets.map(async (target) => closeAll(await openMany(target, holdPort, WARMUP_TUNNELS))),
  );
  await sleep(settleMs);
  const baselines = await Promise.all(pids.map((pid) => settledRssKiB(pid)));
  const opened = await Promise.allSettled(targets.map((target) => openMany(target, holdPort, count)));
  try {
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    await sleep(settleMs);
    const loaded = await Promise.all(pids.map((pid) => settledRssKiB(pid)));
    return Object.fromEntries(
      targets.map((target, i) => [
        target.name,
        {
          kibPerTunnel: (loaded[i]! - baselines[i]!) / count,
          baselineKiB: baselines[i]!,
          loadedKiB: loaded[i]!,
          tunnels: count,
        },
      ]),
    );
  } finally {
    await Promise.all(
      opened.map((result) => (result.status === 'fulfilled' ? closeAll(result.value) : undefined)),
    );
  }
}
