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

/** The median of the finite values (the middle two averaged), NaN if there are none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Half the range of the finite values as a share of their median: how far repeats disagree. */
export function halfSpread(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return Number.NaN;
  return (Math.max(...finite) - Math.min(...finite)) / 2 / Math.abs(median(finite));
}
