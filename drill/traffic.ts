/** Starts the client's request stream in the client namespace and collects its results. */
import { NS, ORIGIN_NAME, LB_IP } from './network.js';
import { NAIVE_LB, SIDECAR_LB } from './haproxy.js';
import type { DrillOptions } from './options.js';
import type { NsProcess } from './processes.js';
import { spawnScript } from './scripts.js';
import { TRAFFIC_READY, type TrafficResult, type TrafficSpec } from './servers/protocol.js';

export type LbName = 'sidecar' | 'naive';

export interface Tally {
  readonly total: number;
  readonly failed: number;
  /** Failure reasons with counts, most frequent first. */
  readonly reasons: readonly [string, number][];
}

export class Traffic {
  readonly results: TrafficResult[] = [];

  private constructor(private readonly proc: NsProcess) {
    proc.onLine((line) => {
      if (!line.startsWith('{')) return;
      try {
        this.results.push(JSON.parse(line) as TrafficResult);
      } catch {
        // a torn line; ignore
      }
    });
  }

  static async start(options: DrillOptions): Promise<Traffic> {
    const spec: TrafficSpec = {
      targets: [
        { name: 'sidecar', host: LB_IP, port: SIDECAR_LB.port },
        { name: 'naive', host: LB_IP, port: NAIVE_LB.port },
      ],
      originHost: ORIGIN_NAME,
      forwardPort: options.forwardPort,
      intervalMs: options.trafficIntervalMs,
      timeoutMs: options.requestTimeoutMs,
      maxInFlight: 200,
      maxDurationMs: options.maxDurationMs,
    };
    const proc = spawnScript('traffic client', NS.client, 'traffic-client', [JSON.stringify(spec)], {
      stdin: true,
    });
    const traffic = new Traffic(proc);
    await proc.waitForLine(TRAFFIC_READY, 10_000);
    return traffic;
  }

  /** Requests started in [from, to) through one load balancer. */
  tally(lb: LbName, from: number, to: number): Tally {
    const picked = this.results.filter((r) => r.target === lb && r.start >= from && r.start < to);
    const reasons = new Map<string, number>();
    for (const r of picked) if (!r.ok) reasons.set(r.error ?? '?', (reasons.get(r.error ?? '?') ?? 0) + 1);
    return {
      total: picked.length,
      failed: picked.filter((r) => !r.ok).length,
      reasons: [...reasons].sort((a, b) => b[1] - a[1]),
    };
  }

  async stop(): Promise<void> {
    this.proc.write('');
    this.proc.signalTree('SIGTERM');
    await Promise.race([this.proc.exited, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    await this.proc.kill();
  }
}
