/** CONNECT tunnel throughput: `streams` tunnels to the source origin, bytes read per second. */
import { setTimeout as sleep } from 'node:timers/promises';
import { dial } from '../client/dial.js';
import type { Window } from '../stats.js';
import type { Target } from '../target.js';
import { cpuMeter } from './cpu.js';

export interface ThroughputResult {
  /** 10^6 bytes per second, origin to client, all streams together. */
  readonly mbPerSecond: number;
  readonly cpuPercent: number | null;
}

export async function throughput(
  target: Target,
  sourcePort: number,
  streams: number,
  window: Window,
): Promise<ThroughputResult> {
  const tunnels = await Promise.all(Array.from({ length: streams }, () => dial(target, sourcePort)));
  let bytes = 0;
  for (const { socket, head } of tunnels) {
    bytes += head.length;
    socket.on('data', (data: Buffer) => (bytes += data.length));
    socket.on('error', () => undefined);
    socket.resume();
  }
  try {
    await sleep(window.warmupMs);
    const bytes0 = bytes;
    const started = performance.now();
    const cpu = cpuMeter(target);
    await sleep(window.durationMs);
    const seconds = (performance.now() - started) / 1_000;
    return { mbPerSecond: (bytes - bytes0) / seconds / 1e6, cpuPercent: cpu() };
  } finally {
    for (const { socket } of tunnels) socket.destroy();
  }
}
