/** Timings of the drill, scaled down from the stack's defaults (lib/egress-proxy-fleet.ts). */

export const SCENARIOS = [
  'proxy-killed',
  'proxy-hung',
  'fake-200',
  'probe-denied',
  'sidecar-killed',
  'internet-outage',
  'allowlist-emptied',
  'policy-rollout',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/**
 * The NLB target group's check, scaled about 1/10 from the stack's defaults (interval 10 s,
 * timeout 5 s, thresholds 2/2, probe timeout 2 s). The chain the stack enforces at synth holds:
 * probe timeout < check timeout < interval.
 */
export interface HealthCheckTimings {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  /** The sidecar's `probe.timeoutMs`. */
  readonly probeTimeoutMs: number;
  /** The sidecar's `probe.cacheMs`. */
  readonly probeCacheMs: number;
}

export interface DrillOptions {
  readonly mode: 'full' | 'short';
  /** Desired capacity of the "Auto Scaling group". */
  readonly instances: number;
  readonly check: HealthCheckTimings;
  /**
   * Delay between the load balancer marking an instance unhealthy and the group acting on it
   * (AWS: the group's next periodic health check, ~30 s and undocumented; scaled).
   */
  readonly asgPickupMs: number;
  /** Steady traffic before each injection. */
  readonly baselineMs: number;
  /** Steady traffic after recovery, still counted in the scenario. */
  readonly settleMs: number;
  /** How long the internet stays cut off. */
  readonly outageMs: number;
  /** How long the emptied allowlist stays in force. */
  readonly allowlistHoldMs: number;
  /** Give up waiting for the sidecar check to mark the victim down. */
  readonly detectTimeoutMs: number;
  /** Give up waiting for the replacement to be healthy. */
  readonly replaceTimeoutMs: number;
  /** An instance's processes must be listening within this. */
  readonly launchTimeoutMs: number;
  /** The client starts one request per load balancer this often (alternating forward/CONNECT). */
  readonly trafficIntervalMs: number;
  /** Port of the client's absolute-form requests (80, as plain-HTTP clients use). */
  readonly forwardPort: number;
  readonly requestTimeoutMs: number;
  /** Hard cap on the whole drill; past it, it stops and cleans up. */
  readonly maxDurationMs: number;
  readonly scenarios: readonly ScenarioName[];
  /** Write every request result, status change and replacement to this JSON file. */
  readonly dumpFile?: string;
  readonly log: (line: string) => void;
}

export const CHECK: HealthCheckTimings = {
  intervalMs: 1_000,
  timeoutMs: 800,
  healthyThreshold: 2,
  unhealthyThreshold: 2,
  probeTimeoutMs: 500,
  probeCacheMs: 100,
};

export function drillOptions(
  mode: 'full' | 'short',
  overrides: Partial<Omit<DrillOptions, 'mode'>> = {},
): DrillOptions {
  const short = mode === 'short';
  const options: DrillOptions = {
    mode,
    instances: 3,
    check: CHECK,
    asgPickupMs: short ? 1_000 : 3_000,
    baselineMs: short ? 500 : 3_000,
    settleMs: short ? 500 : 3_000,
    outageMs: short ? 4_000 : 12_000,
    allowlistHoldMs: short ? 2_500 : 6_000,
    detectTimeoutMs: 8_000,
    replaceTimeoutMs: 15_000,
    launchTimeoutMs: 10_000,
    trafficIntervalMs: short ? 100 : 50,
    forwardPort: 80,
    requestTimeoutMs: 2_000,
    maxDurationMs: short ? 110_000 : 300_000,
    scenarios: SCENARIOS,
    log: (line) => process.stderr.write(`${line}\n`),
    ...overrides,
  };
  validate(options);
  return options;
}

function validate(options: DrillOptions): void {
  const { check } = options;
  if (!(check.probeTimeoutMs < check.timeoutMs && check.timeoutMs < check.intervalMs)) {
    throw new Error('timing chain broken: need probe timeout < check timeout < interval');
  }
  if (options.instances < 2 || options.instances > 8) throw new Error('instances must be 2-8');
}
