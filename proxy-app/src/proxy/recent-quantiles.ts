import { Summary, type LabelValues, type SummaryConfiguration } from 'prom-client';

/** Observations kept: at more than this many a window, the quantiles are of the latest ones. */
export const RECENT_CAPACITY = 4_096;

type Config = Pick<SummaryConfiguration<string>, 'name' | 'help' | 'aggregator' | 'registers'> & {
  readonly percentiles: readonly number[];
  readonly maxAgeSeconds: number;
};

/**
 * A Prometheus summary of the last `maxAgeSeconds` (no labels): quantiles of the observations
 * made in that window, and the usual cumulative `_sum` and `_count`. prom-client's own Summary
 * feeds every observation into a t-digest, which a profile put at about 5% of a new tunnel's
 * CPU; this writes each observation into a ring and computes exact quantiles only when scraped
 * (nearest rank, over at most RECENT_CAPACITY observations; 0 for an empty window, as
 * prom-client reports it).
 */
export class RecentQuantiles extends Summary {
  private readonly values = new Float64Array(RECENT_CAPACITY);
  private readonly times = new Float64Array(RECENT_CAPACITY);
  private written = 0;
  private total = 0;
  private readonly name: string;
  private readonly windowMs: number;
  private readonly quantiles: readonly number[];

  /** `now`: milliseconds on a monotonic clock (tests give their own). */
  constructor(
    config: Config,
    private readonly now: () => number = () => performance.now(),
  ) {
    super({ ...config, percentiles: [...config.percentiles] });
    this.name = config.name;
    this.windowMs = config.maxAgeSeconds * 1_000;
    this.quantiles = config.percentiles;
  }

  override observe(value: number): void;
  override observe(labels: LabelValues<string>, value: number): void;
  override observe(first: number | LabelValues<string>, second?: number): void {
    if (typeof first !== 'number' || second !== undefined) {
      throw new TypeError(`${this.name} has no labels: observe(value)`);
    }
    const slot = this.written++ % RECENT_CAPACITY;
    this.values[slot] = first;
    this.times[slot] = this.now();
    this.total += first;
  }

  override async get(): ReturnType<Summary['get']> {
    const recent = this.inWindow().sort();
    const base = await super.get();
    const rank = (q: number): number => recent[Math.max(0, Math.ceil(q * recent.length) - 1)] ?? 0;
    return {
      ...base,
      values: [
        ...this.quantiles.map((quantile) => ({ labels: { quantile }, value: rank(quantile) })),
        { metricName: `${this.name}_sum`, labels: {}, value: this.total },
        { metricName: `${this.name}_count`, labels: {}, value: this.written },
      ],
    };
  }

  override reset(): void {
    this.written = 0;
    this.total = 0;
  }

  private inWindow(): Float64Array {
    const kept = Math.min(this.written, RECENT_CAPACITY);
    const since = this.now() - this.windowMs;
    const recent = new Float64Array(kept);
    let n = 0;
    for (let i = 0; i < kept; i++) if (this.times[i]! >= since) recent[n++] = this.values[i]!;
    return recent.subarray(0, n);
  }
}
