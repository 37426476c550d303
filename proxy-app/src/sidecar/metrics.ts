import { Counter, Registry, Summary } from 'prom-client';
import type { ProbeMode, ProbeResult } from './probe.js';

/**
 * The sidecar's Prometheus metrics: what its probes through the local proxy found, and how long
 * they took. Served on the sidecar's `/metrics` to clients on this host only. Latency is a
 * summary (quantiles over the last minute) because the CloudWatch agent drops histograms.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  private readonly probes = new Counter({
    name: 'egress_proxy_probes_total',
    help: 'Probes through the local proxy, by mode and result (ok or failed).',
    labelNames: ['mode', 'result'] as const,
    registers: [this.registry],
  });
  private readonly probeSeconds = new Summary({
    name: 'egress_proxy_probe_seconds',
    help: 'Time of a probe through the local proxy, by mode, over the last minute.',
    labelNames: ['mode'] as const,
    percentiles: [0.5, 0.99],
    maxAgeSeconds: 60,
    ageBuckets: 3,
    registers: [this.registry],
  });

  /** Counts both modes of one probe. */
  record(result: ProbeResult): void {
    for (const [mode, outcome] of Object.entries(result.modes) as [
      ProbeMode,
      ProbeResult['modes'][ProbeMode],
    ][]) {
      this.probes.inc({ mode, result: outcome.ok ? 'ok' : 'failed' });
      this.probeSeconds.observe({ mode }, outcome.ms / 1000);
    }
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
