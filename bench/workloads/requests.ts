/**
 * Absolute-form requests per second: `connections` keep-alive clients, each with one GET in
 * flight, through the proxy to the HTTP origin (direct: origin-form to the origin itself).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { KeepAliveConnection } from '../client/keep-alive.js';
import { Samples, type Window } from '../stats.js';
import type { Target } from '../target.js';
import { cpuMeter } from './cpu.js';

export interface RequestsResult {
  readonly perSecond: number;
  /** Request written to answer read, ms. */
  readonly latency: Samples;
  /** Non-200 answers and broken connections during the measured window. */
  readonly errors: number;
  readonly cpuPercent: number | null;
}

export async function requests(
  target: Target,
  httpPort: number,
  connections: number,
  window: Window,
): Promise<RequestsResult> {
  const authority = `127.0.0.1:${httpPort}`;
  const requestLine =
    target.proxyPort === null ? 'GET /bench HTTP/1.1' : `GET http://${authority}/bench HTTP/1.1`;
  const request = Buffer.from(`${requestLine}\r\nHost: ${authority}\r\nUser-Agent: egress-bench\r\n\r\n`);
  const latency = new Samples();
  let measuring = false;
  let measureFrom = Number.POSITIVE_INFINITY;
  let completed = 0;
  let errors = 0;
  const clients = Array.from(
    { length: connections },
    () =>
      new KeepAliveConnection(target.proxyPort ?? httpPort, request, {
        onResponse: (status, sentAt) => {
          if (!measuring || sentAt < measureFrom) return;
          if (status !== 200) {
            errors++;
            return;
          }
          completed++;
          latency.add(performance.now() - sentAt);
        },
        onError: () => {
          if (measuring) errors++;
        },
      }),
  );
  for (const client of clients) client.start();
  try {
    await sleep(window.warmupMs);
    measuring = true;
    measureFrom = performance.now();
    const cpu = cpuMeter(target);
    await sleep(window.durationMs);
    measuring = false;
    const seconds = (performance.now() - measureFrom) / 1_000;
    return { perSecond: completed / seconds, latency, errors, cpuPercent: cpu() };
  } finally {
    for (const client of clients) client.stop();
  }
}
