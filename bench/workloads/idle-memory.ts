/**
 * Memory per idle tunnel: open `count` tunnels to the hold origin (each checked with a one-byte
 * echo), let them sit, and divide the growth of the proxy's RSS (whole process tree) by `count`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dial, DIAL_TIMEOUT_MS, type Dialled } from '../client/dial.js';
import { settledRssKiB } from '../proc.js';
import type { Target } from '../target.js';

const WARMUP_TUNNELS = 200;
const OPEN_CONCURRENCY = 100;
const SETTLE_MS = 1_000;

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

export async function idleMemory(target: Target, holdPort: number, count: number): Promise<IdleMemoryResult> {
  if (target.pid === null) throw new Error('idle memory is measured on a proxy');
  // Code paths compiled and pools sized first, so the growth below is the tunnels' own.
  await closeAll(await openMany(target, holdPort, WARMUP_TUNNELS));
  await sleep(SETTLE_MS);
  const baselineKiB = await settledRssKiB(target.pid);
  const tunnels = await openMany(target, holdPort, count);
  try {
    await sleep(SETTLE_MS);
    const loadedKiB = await settledRssKiB(target.pid);
    return { kibPerTunnel: (loadedKiB - baselineKiB) / count, baselineKiB, loadedKiB, tunnels: count };
  } finally {
    await closeAll(tunnels);
  }
}
