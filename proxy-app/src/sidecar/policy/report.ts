import type { PolicyAgent, PolicyStatus } from './agent.js';
import { uniformVersion, type ProxyPolicy, type WorkerVersions } from './proxy-policy.js';

/** The policy part of every sidecar answer. */
export interface PolicyReport {
  /** The version every proxy worker runs, as the proxy reports it; null if unknown or mid-reload. */
  readonly policyVersion: string | null;
  /** Present while workers run different versions (a reload in flight). */
  readonly policyVersions?: WorkerVersions;
  /** The policy agent's view: source, last poll, last problem. Absent without an agent. */
  readonly policy?: PolicyStatus;
}

/**
 * Asks the proxy which policy version is in force (never recomputed from a file), for the
 * sidecar's answers. Concurrent callers share one request, and an answer is reused for `cacheMs`.
 * Once there is an answer, a caller never waits for the next one: it gets the last answer while a
 * refresh runs, so reading the version never makes a health check slower than its probe.
 */
export class PolicyReporter {
  private last: { versions: WorkerVersions | null; at: number } | undefined;
  private inFlight: Promise<WorkerVersions | null> | undefined;

  constructor(
    private readonly proxy: Pick<ProxyPolicy, 'workerVersions'>,
    private readonly agent: () => PolicyAgent | undefined,
    private readonly cacheMs: number,
  ) {}

  async report(): Promise<PolicyReport> {
    const versions = await this.versions();
    const agent = this.agent();
    return {
      policyVersion: uniformVersion(versions),
      ...(versions && Object.keys(versions).length > 1 ? { policyVersions: versions } : {}),
      ...(agent ? { policy: agent.status() } : {}),
    };
  }

  private versions(): Promise<WorkerVersions | null> {
    const last = this.last;
    if (last && Date.now() - last.at < this.cacheMs) return Promise.resolve(last.versions);
    this.inFlight ??= this.proxy.workerVersions().then((versions) => {
      this.last = { versions, at: Date.now() };
      this.inFlight = undefined;
      return versions;
    });
    return last ? Promise.resolve(last.versions) : this.inFlight;
  }
}
