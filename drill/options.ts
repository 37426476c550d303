/**
 * The drill's settings. Everything the stack decides (health check, deregistration delay and
 * connection termination, hooks, grace period, refresh, the instance config's timeouts) comes from
 * the synthesized template (drill/template.ts), every duration scaled by one factor; the drill's
 * own constants are only how long to watch and how much traffic to send.
 */
import { TIMING_ASSUMPTIONS } from '../lib/timing.js';
import type { EgressProxyConfig } from '../proxy-app/src/config/index.js';
import { fleetFromTemplate, type FleetParameters, type HookSpec } from './template.js';

/** Failures injected into one instance or the whole fleet (drill/faults.ts). */
export const FAULT_SCENARIOS = [
  'proxy-killed',
  'proxy-hung',
  'fake-200',
  'probe-denied',
  'sidecar-killed',
  'internet-outage',
  'allowlist-emptied',
  'policy-rollout',
] as const;
/** Instances leaving the fleet in good health, with tunnels open (drill/drain.ts). */
export const DRAIN_SCENARIOS = ['scale-in', 'instance-refresh'] as const;
export const SCENARIOS = [...FAULT_SCENARIOS, ...DRAIN_SCENARIOS] as const;
export type FaultScenario = (typeof FAULT_SCENARIOS)[number];
export type DrainScenario = (typeof DRAIN_SCENARIOS)[number];
export type ScenarioName = (typeof SCENARIOS)[number];
/**
 * The short drill (the test's) leaves out the two scenarios that wait out one of the stack's long
 * timeouts: a hung proxy's flows hold its termination for most of the deregistration delay, and a
 * killed sidecar's terminating hook runs to its heartbeat timeout (together about half the run).
 * Each kind of check stays covered: fake-200 is what a TCP check misses, proxy-killed what it sees.
 */
export const SHORT_SCENARIOS = SCENARIOS.filter(
  (name) => name !== 'proxy-hung' && name !== 'sidecar-killed',
) as readonly ScenarioName[];

/**
 * When instance metadata reports `Terminated` (undocumented: aws-facts.md §9): at the scale-in
 * decision, before deregistration, or only at Terminating:Wait. `mixed`: scale-in at the
 * decision, everything else at Terminating:Wait, so one run covers both.
 */
export type MetadataReading = 'at-decision' | 'at-wait';
export const METADATA_MODES = ['at-decision', 'at-wait', 'mixed'] as const;
export type MetadataMode = (typeof METADATA_MODES)[number];

export interface ScaledHook {
  readonly name: string;
  readonly timeoutMs: number;
  readonly defaultResult: HookSpec['defaultResult'];
}

/** The template's fleet, every duration in milliseconds and scaled. */
export interface DrillFleet {
  readonly check: {
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
    readonly path: string;
  };
  readonly deregistrationDelayMs: number;
  readonly connectionTermination: boolean;
  readonly tcpIdleTimeoutMs: number;
  readonly gracePeriodMs: number;
  readonly maxHealthyPercentage: number;
  readonly instanceWarmupMs: number;
  readonly hooks: { readonly launching: ScaledHook; readonly terminating: ScaledHook };
  /**
   * The group acting on an ELB-unhealthy instance "on its next periodic health check": the stack's
   * own assumption for an undocumented period (lib/timing.ts), scaled.
   */
  readonly asgPickupMs: number;
  /** The instance config, every duration scaled. */
  readonly instanceConfig: EgressProxyConfig;
}

export interface DrillOptions {
  readonly mode: 'full' | 'short';
  /** Every duration of the stack is multiplied by this. */
  readonly scale: number;
  readonly fleet: DrillFleet;
  readonly metadata: MetadataMode;
  /** Desired capacity of the "Auto Scaling group". */
  readonly instances: number;
  /** Steady traffic before each injection. */
  readonly baselineMs: number;
  /** Steady traffic after recovery, still counted in the scenario. */
  readonly settleMs: number;
  /** How long the internet stays cut off. */
  readonly outageMs: number;
  /** How long the emptied allowlist stays in force. */
  readonly allowlistHoldMs: number;
  /** A "byte every second" tunnel's tick, scaled. */
  readonly tunnelTickMs: number;
  /** The busy tunnel ends this far into the proxy's drain deadline (a fraction of it). */
  readonly busyTunnelShare: number;
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

/**
 * The scale of both drills. At 0.1 the probe timeout would be 200 ms, the check timeout 500 ms and
 * the interval 1 s; on a 2-core machine that runs every instance, the load balancer and the client
 * (and starts three instances at once in a refresh), CPU stalls that long failed checks of healthy
 * instances now and then, which the real fleet (one instance per machine) does not see. At 0.2 (probe 400 ms,
 * check timeout 1 s, interval 2 s) the chain has the room the drill held steady with before.
 */
export const SCALES = { short: 0.2, full: 0.2 } as const;

/** Every duration of the template's fleet in milliseconds, times `scale`. */
export function scaleFleet(fleet: FleetParameters, scale: number): DrillFleet {
  const ms = (seconds: number): number => Math.round(seconds * 1000 * scale);
  const hook = (spec: HookSpec): ScaledHook => ({
    name: spec.name,
    timeoutMs: ms(spec.heartbeatTimeoutSeconds),
    defaultResult: spec.defaultResult,
  });
  return {
    check: {
      intervalMs: ms(fleet.healthCheck.intervalSeconds),
      timeoutMs: ms(fleet.healthCheck.timeoutSeconds),
      healthyThreshold: fleet.healthCheck.healthyThreshold,
      unhealthyThreshold: fleet.healthCheck.unhealthyThreshold,
      path: fleet.healthCheck.path,
    },
    deregistrationDelayMs: ms(fleet.deregistrationDelaySeconds),
    connectionTermination: fleet.connectionTermination,
    tcpIdleTimeoutMs: ms(fleet.tcpIdleTimeoutSeconds),
    gracePeriodMs: ms(fleet.gracePeriodSeconds),
    maxHealthyPercentage: fleet.maxHealthyPercentage,
    instanceWarmupMs: ms(fleet.instanceWarmupSeconds),
    hooks: { launching: hook(fleet.hooks.launching), terminating: hook(fleet.hooks.terminating) },
    asgPickupMs: ms(TIMING_ASSUMPTIONS.asgHealthCheckPeriodSeconds),
    instanceConfig: scaleConfig(fleet.instanceConfig, scale),
  };
}

/** The config with every duration (the `...Ms` settings of its timing sections) scaled. */
function scaleConfig(config: EgressProxyConfig, scale: number): EgressProxyConfig {
  const scaled = <T extends object>(section: T): T =>
    Object.fromEntries(
      Object.entries(section).map(([key, value]) => [
        key,
        key.endsWith('Ms') && typeof value === 'number' ? Math.round(value * scale) : value,
      ]),
    ) as T;
  return {
    ...config,
    timeouts: scaled(config.timeouts),
    probe: scaled(config.probe),
    lifecycle: scaled(config.lifecycle),
  };
}

export function drillOptions(
  mode: 'full' | 'short',
  overrides: Partial<Omit<DrillOptions, 'mode'>> = {},
): DrillOptions {
  const short = mode === 'short';
  const scale = overrides.scale ?? SCALES[mode];
  const options: DrillOptions = {
    mode,
    scale,
    fleet: overrides.fleet ?? scaleFleet(fleetFromTemplate(), scale),
    metadata: 'mixed',
    instances: 3,
    baselineMs: short ? 500 : 3_000,
    settleMs: short ? 500 : 3_000,
    outageMs: short ? 4_000 : 12_000,
    allowlistHoldMs: short ? 2_500 : 6_000,
    tunnelTickMs: Math.round(1_000 * scale),
    busyTunnelShare: 0.4,
    launchTimeoutMs: 10_000,
    trafficIntervalMs: short ? 100 : 50,
    forwardPort: 80,
    requestTimeoutMs: 2_000,
    maxDurationMs: short ? 450_000 : 900_000,
    scenarios: short ? SHORT_SCENARIOS : SCENARIOS,
    log: (line) => process.stderr.write(`${line}\n`),
    ...overrides,
  };
  validate(options);
  return options;
}

function validate(options: DrillOptions): void {
  const { check } = options.fleet;
  const probeTimeoutMs = options.fleet.instanceConfig.probe.timeoutMs;
  if (!(probeTimeoutMs < check.timeoutMs && check.timeoutMs < check.intervalMs)) {
    throw new Error('timing chain broken: need probe timeout < check timeout < interval');
  }
  if (options.instances < 2 || options.instances > 8) throw new Error('instances must be 2-8');
  if (!(options.scale > 0 && options.scale <= 1)) throw new Error('scale must be in (0, 1]');
}

/** The reading a scenario runs under. */
export function readingFor(options: DrillOptions, scenario: ScenarioName): MetadataReading {
  if (options.metadata !== 'mixed') return options.metadata;
  return scenario === 'scale-in' ? 'at-decision' : 'at-wait';
}
