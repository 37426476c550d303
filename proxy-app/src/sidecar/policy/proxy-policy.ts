import { request } from 'undici';
import { PolicyAgentError } from './errors.js';

const POLICY_INFO = /^egress_proxy_policy_info\{version="([0-9a-f]+)"\} (\d+)$/gm;

/** Policy versions the proxy's workers run now, with how many workers run each. */
export type WorkerVersions = Readonly<Record<string, number>>;

/** The one version every worker runs, or null while they differ (a reload in flight) or none report. */
export function uniformVersion(versions: WorkerVersions | null): string | null {
  const running = Object.entries(versions ?? {}).filter(([, workers]) => workers > 0);
  return running.length === 1 ? running[0]![0] : null;
}

/**
 * The proxy's policy as the proxy itself reports it, through its loopback control endpoint:
 * `POST /reload` (the SIGHUP reload, answered with its result) and the `egress_proxy_policy_info`
 * metric, which each worker sets when it applies a policy.
 */
export class ProxyPolicy {
  /**
   * @param timeoutMs per request; the sidecar passes its probe timeout, so reading the version
   * never makes a health check slower than the probe itself may be.
   */
  constructor(
    private readonly controlOrigin: string,
    private readonly timeoutMs: number,
  ) {}

  /** Asks the proxy to re-read its config and policy file. */
  async reload(): Promise<string> {
    let status: number;
    let body: { policyVersion?: string; key?: string; problem?: string };
    try {
      const response = await request(`${this.controlOrigin}/reload`, {
        method: 'POST',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = response.statusCode;
      body = (await response.body.json()) as typeof body;
    } catch (error) {
      throw new PolicyAgentError(
        'EGRESS_POLICY_PROXY_UNREACHABLE',
        `the proxy's control endpoint did not answer: ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (status === 200 && body.policyVersion) return body.policyVersion;
    throw new PolicyAgentError(
      'EGRESS_POLICY_RELOAD_REFUSED',
      `the proxy refused the reload (HTTP ${status}): ${body.problem ?? 'no reason given'}`,
    );
  }

  /** The versions the workers report, or null when the proxy does not answer. */
  async workerVersions(): Promise<WorkerVersions | null> {
    try {
      const response = await request(`${this.controlOrigin}/metrics`, {
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) return null;
      const versions: Record<string, number> = {};
      for (const [, version, workers] of text.matchAll(POLICY_INFO)) versions[version!] = Number(workers);
      return versions;
    } catch {
      return null;
    }
  }
}
