import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RECENT_CAPACITY, RecentQuantiles } from '../../../proxy-app/src/proxy/recent-quantiles.js';

function summary(): { metric: RecentQuantiles; registry: Registry; clock: { ms: number } } {
  const clock = { ms: 0 };
  const registry = new Registry();
  const metric = new RecentQuantiles(
    { name: 'test_seconds', help: 'h', percentiles: [0.5, 0.99], maxAgeSeconds: 60, registers: [registry] },
    () => clock.ms,
  );
  return { metric, registry, clock };
}

describe('RecentQuantiles', () => {
  it('reports nearest-rank quantiles of the window, with a cumulative sum and count', async () => {
    const { metric, registry } = summary();
    for (let i = 100; i >= 1; i--) metric.observe(i);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE test_seconds summary');
    expect(text).toMatch(/^test_seconds\{quantile="0.5"\} 50$/m);
    expect(text).toMatch(/^test_seconds\{quantile="0.99"\} 99$/m);
    expect(text).toMatch(/^test_seconds_sum 5050$/m);
    expect(text).toMatch(/^test_seconds_count 100$/m);
  });

  it('forgets what is older than maxAgeSeconds, but not in the sum and count', async () => {
    const { metric, registry, clock } = summary();
    metric.observe(9);
    clock.ms = 30_000;
    metric.observe(1);
    clock.ms = 61_000;
    expect(await registry.metrics()).toMatch(/^test_seconds\{quantile="0.99"\} 1$/m);
    clock.ms = 91_000;
    const text = await registry.metrics();
    expect(text).toMatch(/^test_seconds\{quantile="0.5"\} 0$/m);
    expect(text).toMatch(/^test_seconds_count 2$/m);
    expect(text).toMatch(/^test_seconds_sum 10$/m);
  });

  it('beyond its capacity, reports the latest observations', async () => {
    const { metric, registry } = summary();
    for (let i = 0; i < RECENT_CAPACITY; i++) metric.observe(1_000);
    for (let i = 0; i < RECENT_CAPACITY; i++) metric.observe(1);
    const text = await registry.metrics();
    expect(text).toMatch(/^test_seconds\{quantile="0.99"\} 1$/m);
    expect(text).toMatch(new RegExp(`^test_seconds_count ${2 * RECENT_CAPACITY}$`, 'm'));
  });

  it('has no labels: observing with labels is an error', () => {
    const { metric } = summary();
    expect(() => metric.observe({ kind: 'x' }, 1)).toThrow('test_seconds has no labels: observe(value)');
  });
});
