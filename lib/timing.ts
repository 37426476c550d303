import { EgressProxyValidationError } from './errors.js';
import type { IConstruct } from 'constructs';

/** Every duration that takes part in detecting a broken proxy and replacing it, in seconds. */
export interface TimingInputs {
  /** The sidecar's proxied probe gives up after this (config `probe.timeoutMs` / 1000). */
  readonly probeTimeoutSeconds: number;
  readonly healthCheckTimeoutSeconds: number;
  readonly healthCheckIntervalSeconds: number;
  readonly healthyThresholdCount: number;
  readonly unhealthyThresholdCount: number;
  /** The proxy lets open tunnels finish for this long on SIGTERM (config `timeouts.drainMs` / 1000). */
  readonly drainSeconds: number;
  readonly deregistrationDelaySeconds: number;
  readonly healthCheckGracePeriodSeconds: number;
  /** A terminating lifecycle hook's heartbeat timeout, when the group has one. */
  readonly terminatingHookTimeoutSeconds?: number;
  /** How often the sidecar heartbeats a long drain (config `lifecycle.heartbeatMs` / 1000). */
  readonly heartbeatSeconds?: number;
}

/** Expected seconds, derived from the inputs plus the assumptions in `TIMING_ASSUMPTIONS`. */
export interface TimingEstimate {
  /** From the proxy breaking to the load balancer marking the target unhealthy. */
  readonly detectionSeconds: number;
  /** From the proxy breaking to a replacement instance passing its health checks. */
  readonly replacementInServiceSeconds: number;
}

/**
 * Durations the service does not document or that depend on the workload. They only feed the
 * estimate; nothing is validated against them.
 */
export const TIMING_ASSUMPTIONS = {
  /** The ASG picks up an ELB-unhealthy instance on its next periodic health check (period undocumented). */
  asgHealthCheckPeriodSeconds: 30,
  /** Launch, boot and user data of a baked image until both units listen. */
  bootSeconds: 60,
  /** Target registration before the first health check ("can take a few minutes"). */
  registrationSeconds: 60,
} as const;

/**
 * Checks that the timeouts form a chain in which every stage can finish before the next gives up:
 * probe timeout < health check timeout < interval; drain < deregistration delay < terminating hook
 * timeout; detection (interval x unhealthy threshold) < grace period. Throws naming the first broken link.
 */
export function validateTimingChain(t: TimingInputs, scope?: IConstruct): TimingEstimate {
  const fail = (prop: string, problem: string): never => {
    throw new EgressProxyValidationError(prop, problem, scope);
  };
  if (!(t.probeTimeoutSeconds < t.healthCheckTimeoutSeconds)) {
    fail(
      'healthCheckTimeout',
      `(${t.healthCheckTimeoutSeconds} s) must be longer than the sidecar's probe timeout (probe.timeoutMs = ${t.probeTimeoutSeconds * 1000} ms), otherwise a slow but working proxy is reported as a timeout`,
    );
  }
  if (!(t.healthCheckTimeoutSeconds < t.healthCheckIntervalSeconds)) {
    fail(
      'healthCheckTimeout',
      `(${t.healthCheckTimeoutSeconds} s) must be shorter than healthCheckInterval (${t.healthCheckIntervalSeconds} s)`,
    );
  }
  if (!(t.drainSeconds < t.deregistrationDelaySeconds)) {
    fail(
      'deregistrationDelay',
      `(${t.deregistrationDelaySeconds} s) must be longer than the proxy's drain time (timeouts.drainMs = ${t.drainSeconds * 1000} ms), otherwise the load balancer cuts tunnels the proxy is still draining`,
    );
  }
  if (
    t.terminatingHookTimeoutSeconds !== undefined &&
    !(t.deregistrationDelaySeconds < t.terminatingHookTimeoutSeconds)
  ) {
    fail(
      'terminatingHookTimeout',
      `(${t.terminatingHookTimeoutSeconds} s) must be longer than deregistrationDelay (${t.deregistrationDelaySeconds} s)`,
    );
  }
  if (
    t.terminatingHookTimeoutSeconds !== undefined &&
    t.heartbeatSeconds !== undefined &&
    !(t.heartbeatSeconds < t.terminatingHookTimeoutSeconds)
  ) {
    fail(
      'terminatingHookTimeout',
      `(${t.terminatingHookTimeoutSeconds} s) must be longer than the sidecar's heartbeat interval (lifecycle.heartbeatMs = ${t.heartbeatSeconds * 1000} ms), or a long drain times out`,
    );
  }
  const detectionSeconds = t.healthCheckIntervalSeconds * t.unhealthyThresholdCount;
  if (!(detectionSeconds < t.healthCheckGracePeriodSeconds)) {
    fail(
      'healthCheckGracePeriod',
      `(${t.healthCheckGracePeriodSeconds} s) must be longer than the detection time (healthCheckInterval ${t.healthCheckIntervalSeconds} s x unhealthyThresholdCount ${t.unhealthyThresholdCount} = ${detectionSeconds} s), so a booting instance is not replaced before it had a full detection window`,
    );
  }
  const a = TIMING_ASSUMPTIONS;
  return {
    detectionSeconds,
    replacementInServiceSeconds:
      detectionSeconds +
      a.asgHealthCheckPeriodSeconds +
      a.bootSeconds +
      a.registrationSeconds +
      t.healthCheckIntervalSeconds * t.healthyThresholdCount,
  };
}
