/** What a workload runs against: the origin itself, or a proxy in front of it. */
export interface Target {
  /** Column heading: `direct`, `ours`, `ours (warn)`, `squid`. */
  readonly name: string;
  /** The proxy's port on 127.0.0.1; null means connect to the origin directly. */
  readonly proxyPort: number | null;
  /** Root of the proxy's process tree (for RSS and CPU); null for direct. */
  readonly pid: number | null;
}

/** A proxy this benchmark started and must stop. */
export interface RunningProxy extends Target {
  readonly proxyPort: number;
  readonly pid: number;
  /** Where its logs went, for the report. */
  readonly logDir: string;
  stop(): Promise<void>;
}

export const DIRECT: Target = { name: 'direct', proxyPort: null, pid: null };
