/**
 * New tunnels per second: `concurrency` closed loops, each opening a tunnel to the echo origin,
 * sending 32 bytes, reading them back and the origin's close, then starting over.
 */
import { dial } from '../client/dial.js';
import { Samples, type Window } from '../stats.js';
import type { Target } from '../target.js';
import { cpuMeter } from './cpu.js';

const PING = Buffer.alloc(32, 0x70);
/** A loop that keeps failing stops rather than spinning. */
const MAX_ERRORS = 100;

export interface NewTunnelsResult {
  readonly perSecond: number;
  /** connect() to the proxy's 200 (direct: to the TCP connect). */
  readonly setup: Samples;
  /** After the 200: 32 bytes to the origin and back, and the origin's close. */
  readonly echo: Samples;
  readonly errors: number;
  readonly cpuPercent: number | null;
}

function echoOnce(target: Target, echoPort: number): Promise<{ setupMs: number; echoMs: number }> {
  return dial(target, echoPort).then(
    ({ socket, head, startedAt, establishedAt }) =>
      new Promise((resolve, reject) => {
        let received = head.length;
        socket.on('data', (data: Buffer) => (received += data.length));
        socket.once('error', reject);
        socket.once('end', () => {
          if (received !== PING.length) reject(new Error(`${target.name}: echo returned ${received} bytes`));
          else resolve({ setupMs: establishedAt - startedAt, echoMs: performance.now() - establishedAt });
        });
        socket.resume();
        socket.write(PING);
      }),
  );
}

export async function newTunnels(
  target: Target,
  echoPort: number,
  concurrency: number,
  window: Window,
): Promise<NewTunnelsResult> {
  const setup = new Samples();
  const echo = new Samples();
  const now = performance.now();
  const measureFrom = now + window.warmupMs;
  const measureTo = measureFrom + window.durationMs;
  let completed = 0;
  let errors = 0;
  let cpu: (() => number | null) | undefined;
  const startCpu = setTimeout(() => (cpu = cpuMeter(target)), window.warmupMs);

  const loop = async (): Promise<void> => {
    while (performance.now() < measureTo && errors < MAX_ERRORS) {
      const started = performance.now();
      try {
        const { setupMs, echoMs } = await echoOnce(target, echoPort);
        if (started >= measureFrom && performance.now() <= measureTo) {
          completed++;
          setup.add(setupMs);
          echo.add(echoMs);
        }
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  clearTimeout(startCpu);
  return {
    perSecond: completed / (window.durationMs / 1_000),
    setup,
    echo,
    errors,
    cpuPercent: cpu?.() ?? null,
  };
}
