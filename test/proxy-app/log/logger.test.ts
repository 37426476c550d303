import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, metricValue } from '../client.js';
import { startProxy, type Fleet } from '../harness.js';

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startProxy({
    allow: ['example.com'],
    proxy: { workers: 1 },
    log: { maxBufferBytes: 65_536 },
  });
});

afterAll(async () => {
  fleet?.proxy.child.stdout!.resume();
  await fleet?.stop();
});

describe('the access log when stdout stalls', () => {
  it('keeps serving, holds at most log.maxBufferBytes, and counts the lines it drops', async () => {
    // Stop reading the proxy's stdout: the pipe fills, and every further line must wait or go.
    fleet.proxy.child.stdout!.pause();
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next++ < 1_500) {
          const response = await exchange(
            fleet.config.proxy.port,
            'CONNECT denied.example:443 HTTP/1.1\r\n\r\n',
          );
          statuses.push(response.status);
        }
      }),
    );
    expect(statuses.filter((status) => status === 403).length).toBe(statuses.length);
    const dropped = await metricValue(fleet.config.metrics.port, 'egress_proxy_log_lines_dropped_total');
    expect(dropped).toBeGreaterThan(0);
  }, 60_000);
});
