/** Latency samples in milliseconds; percentiles by nearest rank. */
export class Samples {
  private readonly values: number[] = [];

  add(ms: number): void {
    this.values.push(ms);
  }

  get count(): number {
    return this.values.length;
  }

  percentile(p: number): number {
    if (this.values.length === 0) return Number.NaN;
    const sorted = Float64Array.from(this.values).sort();
    const rank = Math.ceil((p / 100) * sorted.length);
    return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
  }
}

/** Window of a measurement: `warmupMs` not counted, then `durationMs` counted. */
export interface Window {
  readonly warmupMs: number;
  readonly durationMs: number;
}
