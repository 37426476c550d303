/**
 * New tunnels per second: `concurrency` closed loops, each opening a tunnel to the answer origin,
 * sending one small GET, reading the 1 KiB answer to the origin's close, then starting over.
 */
import { dial } from '../client/dial.js';
import { SHORT_ANSWER } from '../loopback-origin.js';
import { Samples, type Window } from '../stats.js';
import type { Target } from '../target.js';
import { cpuMeter } from './cpu.js';

const REQUEST = Buffer.from('GET /one HTTP/1.1\r\nHost: origin\r\n\r\n');
/** A loop that keeps failing stops rather than spinning. */
const MAX_ERRORS = 100;
/** An answer that stops arriving fails its loop's turn instead of hanging the run. */
const ANSWER_TIMEOUT_MS = 10_000;

export interface NewTunnelsResult {
  readonly perSecond: number;
  /** connect() to the proxy's 200 (direct: to the TCP connect). */
  readonly setup: Samples;
  /** connect() to the answer's last byte and the origin's close: the whole exchange. */
  readonly total: Samples;
  readonly errors: number;
  readonly cpuPercent: number | null;
}

function exchangeOnce(target: Target, answerPort: number): Promise<{ setupMs: number; totalMs: number }> {
  return dial(target, answerPort).then(
    ({ socket, head, startedAt, establishedAt }) =>
      new Promise((resolve, reject) => {
        let received = head.length;
        socket.setTimeout(ANSWER_TIMEOUT_MS, () => socket.destroy(new Error(`${target.name}: no answer`)));
        socket.on('data', (data: Buffer) => (received += data.length));
        socket.once('error', reject);
        socket.once('end', () => {
          socket.destroy();
          if (received !== SHORT_ANSWER.length) reject(new Error(`${target.name}: ${received} bytes back`));
          else resolve({ setupMs: establishedAt - startedAt, totalMs: performance.now() - startedAt });
        });
        socket.resume();
        socket.write(REQUEST);
      }),
  );
}

export async function newTunnels(
  target: Target,
  answerPort: number,
  concurrency: number,
  window: Window,
): Promise<NewTunnelsResult> {
  const setup = new Samples();
  const total = new Samples();
  const measureFrom = performance.now() + window.warmupMs;
  const measureTo = measureFrom + window.durationMs;
  let completed = 0;
  let errors = 0;
  let failures = 0;
  let cpu: (() => number | null) | undefined;
  const startCpu = setTimeout(() => (cpu = cpuMeter(target)), window.warmupMs);
  let cpuPercent: number | null = null;
  const stopCpu = setTimeout(() => (cpuPercent = cpu?.() ?? null), window.warmupMs + window.durationMs);

  const loop = async (): Promise<void> => {
    while (performance.now() < measureTo && failures < MAX_ERRORS) {
      // What ends inside the window counts, so the rate is steady-state whatever the latency.
      try {
        const { setupMs, totalMs } = await exchangeOnce(target, answerPort);
        const ended = performance.now();
        if (ended >= measureFrom && ended <= measureTo) {
          completed++;
          setup.add(setupMs);
          total.add(totalMs);
        }
      } catch {
        failures++;
        const ended = performance.now();
        if (ended >= measureFrom && ended <= measureTo) errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  clearTimeout(startCpu);
  clearTimeout(stopCpu);
  return {
    perSecond: completed / (window.durationMs / 1_000),
    setup,
    total,
    errors,
    cpuPercent,
  };
}
