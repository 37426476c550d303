/**
 * `limits.maxConnections` across all workers. Each worker knows its own count exactly and the
 * others' from the primary (reports are coalesced over `REPORT_MS`, so near the limit the total
 * can overshoot by what arrives in that window). A refused connection is not counted.
 */
export class ConnectionLimit {
  static readonly REPORT_MS = 20;
  private local = 0;
  private others = 0;
  private reportTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly max: number,
    private readonly report: (local: number) => void,
  ) {}

  /** Counts a new connection if there is room; false means answer 503. */
  admit(): boolean {
    if (this.local + this.others >= this.max) return false;
    this.local++;
    this.scheduleReport();
    return true;
  }

  release(): void {
    this.local--;
    this.scheduleReport();
  }

  /** The primary's latest count of every other worker's connections. */
  setOthers(count: number): void {
    this.others = count;
  }

  private scheduleReport(): void {
    this.reportTimer ??= setTimeout(() => {
      this.reportTimer = undefined;
      this.report(this.local);
    }, ConnectionLimit.REPORT_MS).unref();
  }
}
