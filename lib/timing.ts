import { EgressProxyValidationError } from './errors.js';
import type { IConstruct } from 'constructs';

/** Every duration that takes part in replacing a broken proxy or draining a leaving one, in seconds. */
export interface TimingInputs {
  /** The sidecar's proxied probe gives up after this (config `probe.timeoutMs` / 1000). */
  readonly probeTimeoutSeconds: number;
  readonly healthCheckTimeoutSeconds: number;
  readonly healthCheckIntervalSeconds: number;
  readonly healthyThresholdCount: number;
  readonly unhealthyThresholdCount: number;
  readonly healthCheckGracePeriodSeconds: number;
  /** The drain bound, and the target group's deregistration delay. */
  readonly maxDrainSeconds: number;
  /** While draining, tunnels idle this long are closed (config `timeouts.drainIdleMs` / 1000). */
  readonly drainIdleSeconds: number;
  /** How often the sidecar reads its target's health (config `lifecycle.targetHealthPollMs` / 1000). */
  readonly targetHealthPollSeconds: number;
  /** The terminating lifecycle hook's heartbeat timeout. */
  readonly terminatingHookTimeoutSeconds: number;
  /** How often the sidecar heartbeats a long drain (config `lifecycle.heartbeatMs` / 1000). */
  readonly heartbeatSeconds: number;
}

/** Durations derived from the inputs, and estimates from them plus `TIMING_ASSUMPTIONS`. */
export interface Timing {
  /** From the proxy breaking to the load balancer marking the target unhealthy. */
  readonly detectionSeconds: number;
  /** From the proxy breaking to a replacement instance passing its health checks (estimate). */
  readonly replacementInServiceSeconds: number;
  /** The target group's deregistration delay: `maxDrainSeconds`. */
  readonly deregistrationDelaySeconds: number;
  /**
   * How long the proxy lets busy tunnels run once it learned of the drain (config
   * `timeouts.drainMs`): the delay less the time the sidecar may take to learn of it, so the
   * proxy's own graceful close comes before the load balancer's end of the delay.
   */
  readonly proxyDrainSeconds: number;
  /** The longest the sidecar may take to learn that deregistration began. */
  readonly noticeSeconds: number;
}

/** A DescribeTargetHealth call's deadline: the SDK's 3 attempts on a slow network, roughly. */
export const TARGET_HEALTH_CALL_SECONDS = 5;
/** The deregistration delay's range (TargetGroupAttribute deregistration_delay.timeout_seconds, aws-facts.md §1.4). */
export const MAX_DEREGISTRATION_DELAY_SECONDS = 3600;
/** A lifecycle hook's heartbeat timeout range (PutLifecycleHook HeartbeatTimeout, aws-facts.md §2.2). */
export const HOOK_TIMEOUT_RANGE_SECONDS = [30, 7200] as const;

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

/** How the drain bound splits (see `validateTimingChain`), before any check. */
export function drainTiming(
  maxDrainSeconds: number,
  targetHealthPollSeconds: number,
): Pick<Timing, 'deregistrationDelaySeconds' | 'proxyDrainSeconds' | 'noticeSeconds'> & {
  /** The terminating hook's default heartbeat timeout: the bound plus a minute. */
  terminatingHookTimeoutSeconds: number;
} {
  const noticeSeconds = targetHealthPollSeconds + TARGET_HEALTH_CALL_SECONDS;
  return {
    deregistrationDelaySeconds: maxDrainSeconds,
    proxyDrainSeconds: maxDrainSeconds - noticeSeconds,
    noticeSeconds,
    terminatingHookTimeoutSeconds: maxDrainSeconds + 60,
  };
}

/**
 * Checks that the timeouts form a chain in which every stage can finish before the next gives up,
 * and derives the drain's durations. Throws naming the first broken link.
 *
 * Detection: probe timeout < health check timeout < interval; interval x unhealthy threshold <
 * grace period.
 *
 * Drain, in the order Auto Scaling documents (deregister, deregistration delay, Terminating:Wait;
 * aws-facts.md §2.2): the deregistration delay is the bound (`maxDrainSeconds`, at most 3600 s).
 * The sidecar learns of the deregistration within `noticeSeconds` (target health poll plus one
 * call), so the proxy's own deadline is the bound less that, and must leave room for idle tunnels
 * to be recognised (> drainIdle). The terminating hook must outlast a drain that starts as late as
 * Terminating:Wait (> bound + notice), and the sidecar's heartbeat must come inside it.
 */
export function validateTimingChain(t: TimingInputs, scope?: IConstruct): Timing {
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
  const detectionSeconds = t.healthCheckIntervalSeconds * t.unhealthyThresholdCount;
  if (!(detectionSeconds < t.healthCheckGracePeriodSeconds)) {
    fail(
      'healthCheckGracePeriod',
      `(${t.healthCheckGracePeriodSeconds} s) must be longer than the detection time (healthCheckInterval ${t.healthCheckIntervalSeconds} s x unhealthyThresholdCount ${t.unhealthyThresholdCount} = ${detectionSeconds} s), so a booting instance is not replaced before it had a full detection window`,
    );
  }

  const { noticeSeconds, proxyDrainSeconds } = drainTiming(t.maxDrainSeconds, t.targetHealthPollSeconds);
  if (t.maxDrainSeconds > MAX_DEREGISTRATION_DELAY_SECONDS) {
    fail(
      'maxDrain',
      `(${t.maxDrainSeconds} s) is the target group's deregistration delay, which is at most ${MAX_DEREGISTRATION_DELAY_SECONDS} s`,
    );
  }
  if (!(proxyDrainSeconds > t.drainIdleSeconds)) {
    fail(
      'maxDrain',
      `(${t.maxDrainSeconds} s) must exceed the time the sidecar may take to learn of a deregistration (target health poll ${t.targetHealthPollSeconds} s + ${TARGET_HEALTH_CALL_SECONDS} s = ${noticeSeconds} s) plus the drain's idle time (${t.drainIdleSeconds} s), otherwise the proxy's drain deadline comes before an idle tunnel is recognised`,
    );
  }
  const [minHook, maxHook] = HOOK_TIMEOUT_RANGE_SECONDS;
  if (t.terminatingHookTimeoutSeconds < minHook || t.terminatingHookTimeoutSeconds > maxHook) {
    fail(
      'terminatingHookTimeout',
      `(${t.terminatingHookTimeoutSeconds} s) must be ${minHook}-${maxHook} s (the lifecycle hook's heartbeat timeout range)`,
    );
  }
  if (!(t.terminatingHookTimeoutSeconds > t.maxDrainSeconds + noticeSeconds)) {
    fail(
      'terminatingHookTimeout',
      `(${t.terminatingHookTimeoutSeconds} s) must be longer than maxDrain (${t.maxDrainSeconds} s) plus the sidecar's notice time (${noticeSeconds} s), so a drain that starts only at Terminating:Wait still finishes before the hook gives up`,
    );
  }
  if (!(t.heartbeatSeconds < t.terminatingHookTimeoutSeconds)) {
    fail(
      'terminatingHookTimeout',
      `(${t.terminatingHookTimeoutSeconds} s) must be longer than the sidecar's heartbeat interval (lifecycle.heartbeatMs = ${t.heartbeatSeconds * 1000} ms), or a long drain times out`,
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
    deregistrationDelaySeconds: t.maxDrainSeconds,
    proxyDrainSeconds,
    noticeSeconds,
  };
}
