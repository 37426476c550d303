import type { Node } from 'constructs';
import { DEFAULTS as CONFIG_DEFAULTS } from '../proxy-app/src/config/index.js';
import { EMAIL, TOPIC_ARN } from './alarm-actions.js';
import { EgressProxyValidationError } from './errors.js';

/** CPU architecture of the fleet and of the image built for it. */
export type ProxyArchitecture = 'arm64' | 'x86_64';

/**
 * Everything a deployment can choose, as read from `cdk.json` context (keys prefixed with
 * `egressProxy:`). Values are validated here for type and range; cross-setting timing rules are
 * checked by the fleet (see `timing.ts`) and proxy settings by proxy-app's `parseConfig`.
 */
export interface EgressProxySettings {
  /** Destination host patterns the proxy allows (`example.com`, `*.example.com`, optional `:port`). */
  readonly allow: string[];
  /** Destination ports allowed when a pattern names none. */
  readonly allowPorts: number[];
  /** Destination address ranges allowed even if private. */
  readonly allowCidrs: string[];
  readonly proxyPort: number;
  readonly healthPort: number;
  /** Client ranges admitted by the load balancer; undefined means the VPC's CIDR. */
  readonly clientCidrs?: string[];
  readonly instanceType: string;
  readonly architecture: ProxyArchitecture;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Undefined leaves the running desired capacity alone on deploy (scaling owns it). */
  readonly desiredCapacity?: number;
  readonly targetCpuPercent: number;
  readonly healthCheckIntervalSeconds: number;
  readonly healthCheckTimeoutSeconds: number;
  readonly healthyThresholdCount: number;
  readonly unhealthyThresholdCount: number;
  readonly healthCheckGracePeriodSeconds: number;
  /**
   * The drain bound: the target group's deregistration delay. Tunnels still moving bytes when an
   * instance leaves the fleet run until they end or until this runs out (see `timing.ts`).
   */
  readonly maxDrainSeconds: number;
  /** While draining, tunnels idle this long are closed (config `timeouts.drainIdleMs`). */
  readonly drainIdleMs: number;
  /** The sidecar's probe timeout (config `probe.timeoutMs`). */
  readonly probeTimeoutMs: number;
  readonly logLevel: string;
  /** Import this VPC (needs credentials and an explicit account/region); undefined creates one. */
  readonly vpcId?: string;
  /** CIDR of the VPC created when `vpcId` is not set. */
  readonly vpcCidr: string;
  /** NAT gateways of the created VPC (one per AZ keeps egress up when an AZ fails). */
  readonly natGateways: number;
  /**
   * Interface VPC endpoints for the AWS APIs the instances call (Auto Scaling, ELB, CloudWatch
   * Logs, SSM), so lifecycle calls and logs do not depend on the NAT path. They cost money.
   */
  readonly interfaceEndpoints: boolean;
  /** A CloudWatch dashboard for the fleet. */
  readonly dashboard: boolean;
  /** An SNS topic every alarm notifies (on ALARM and OK). */
  readonly alarmTopicArn?: string;
  /** An address every alarm is e-mailed to (through a new topic). */
  readonly alarmEmail?: string;
  /**
   * Any text; a new value rebuilds the image from the newest parent image on the next deploy (OS
   * and Node.js updates), which rolls the fleet. A date is a good value.
   */
  readonly imageRefresh?: string;
}

/**
 * The defaults, also documented in docs/deploy.md. Proxy settings come from proxy-app's own
 * defaults, so the two cannot drift apart.
 */
export const DEFAULT_SETTINGS: Omit<EgressProxySettings, 'allow'> = {
  allowPorts: [...CONFIG_DEFAULTS.allowPorts],
  allowCidrs: [...CONFIG_DEFAULTS.allowCidrs],
  proxyPort: CONFIG_DEFAULTS.proxy.port,
  healthPort: CONFIG_DEFAULTS.health.port,
  instanceType: 't4g.small',
  architecture: 'arm64',
  minCapacity: 2,
  maxCapacity: 4,
  targetCpuPercent: 60,
  healthCheckIntervalSeconds: 10,
  healthCheckTimeoutSeconds: 5,
  healthyThresholdCount: 2,
  unhealthyThresholdCount: 2,
  healthCheckGracePeriodSeconds: 120,
  maxDrainSeconds: 300,
  drainIdleMs: CONFIG_DEFAULTS.timeouts.drainIdleMs,
  probeTimeoutMs: CONFIG_DEFAULTS.probe.timeoutMs,
  logLevel: CONFIG_DEFAULTS.log.level,
  vpcCidr: '10.64.0.0/16',
  natGateways: 2,
  interfaceEndpoints: false,
  dashboard: true,
};

/** The prefix of every context key this app reads, e.g. `egressProxy:allow`. */
export const CONTEXT_PREFIX = 'egressProxy:';

type Reader<T> = (value: unknown, key: string) => T;

/**
 * Reads and validates the settings from context. `-c key=value` on the command line gives
 * strings, so numbers, booleans and lists are also accepted as strings (lists as JSON or
 * comma-separated). A context key with the prefix that no setting reads (a typo) is an error
 * naming it and the known keys, as the proxy's config does.
 */
export function settingsFromContext(node: Node): EgressProxySettings {
  const known = new Set<string>();
  const read = <T>(name: string, reader: Reader<T>): T | undefined => {
    known.add(name);
    const value: unknown = node.tryGetContext(CONTEXT_PREFIX + name);
    return value === undefined || value === null || value === ''
      ? undefined
      : reader(value, CONTEXT_PREFIX + name);
  };
  const d = DEFAULT_SETTINGS;
  const allow = read('allow', stringList);
  if (allow === undefined) {
    throw new EgressProxyValidationError(
      `context "${CONTEXT_PREFIX}allow"`,
      'is required: the list of destination host patterns the proxy allows (set it in cdk.json)',
    );
  }
  const settings: EgressProxySettings = {
    allow,
    allowPorts: read('allowPorts', list(int(1, 65535))) ?? d.allowPorts,
    allowCidrs: read('allowCidrs', stringList) ?? d.allowCidrs,
    // Unprivileged ports only: the units run with an empty capability set.
    proxyPort: read('proxyPort', int(1024, 65535)) ?? d.proxyPort,
    healthPort: read('healthPort', int(1024, 65535)) ?? d.healthPort,
    clientCidrs: read('clientCidrs', list(cidr)),
    instanceType:
      read('instanceType', pattern(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'an instance type like t4g.small')) ??
      d.instanceType,
    architecture: read('architecture', oneOf(['arm64', 'x86_64'] as const)) ?? d.architecture,
    minCapacity: read('minCapacity', int(1, 100)) ?? d.minCapacity,
    maxCapacity: read('maxCapacity', int(1, 100)) ?? d.maxCapacity,
    desiredCapacity: read('desiredCapacity', int(1, 100)),
    targetCpuPercent: read('targetCpuPercent', int(10, 95)) ?? d.targetCpuPercent,
    // Ranges are the service's limits for NLB target groups (aws-facts.md §1.1, §1.4).
    healthCheckIntervalSeconds:
      read('healthCheckIntervalSeconds', int(5, 300)) ?? d.healthCheckIntervalSeconds,
    healthCheckTimeoutSeconds: read('healthCheckTimeoutSeconds', int(2, 120)) ?? d.healthCheckTimeoutSeconds,
    healthyThresholdCount: read('healthyThresholdCount', int(2, 10)) ?? d.healthyThresholdCount,
    unhealthyThresholdCount: read('unhealthyThresholdCount', int(2, 10)) ?? d.unhealthyThresholdCount,
    healthCheckGracePeriodSeconds:
      read('healthCheckGracePeriodSeconds', int(0, 7200)) ?? d.healthCheckGracePeriodSeconds,
    // The deregistration delay's range, 0-3600 s; the timing chain asks for more than 0.
    maxDrainSeconds: read('maxDrainSeconds', int(0, 3600)) ?? d.maxDrainSeconds,
    drainIdleMs: read('drainIdleMs', int(100, 3_600_000)) ?? d.drainIdleMs,
    probeTimeoutMs: read('probeTimeoutMs', int(100, 120_000)) ?? d.probeTimeoutMs,
    logLevel: read('logLevel', pattern(/^[a-z]+$/, 'a log level')) ?? d.logLevel,
    vpcId: read('vpcId', pattern(/^vpc-[0-9a-f]{8,17}$/, 'a VPC id like vpc-0123456789abcdef0')),
    vpcCidr: read('vpcCidr', cidr) ?? d.vpcCidr,
    natGateways: read('natGateways', int(1, 3)) ?? d.natGateways,
    interfaceEndpoints: read('interfaceEndpoints', bool) ?? d.interfaceEndpoints,
    dashboard: read('dashboard', bool) ?? d.dashboard,
    alarmTopicArn: read('alarmTopicArn', pattern(TOPIC_ARN, 'an SNS topic ARN')),
    alarmEmail: read('alarmEmail', pattern(EMAIL, 'an e-mail address')),
    imageRefresh: read(
      'imageRefresh',
      pattern(/^[A-Za-z0-9._:-]{1,64}$/, 'up to 64 letters, digits, ".", "_", ":" or "-"'),
    ),
  };
  rejectUnknown(node, known);
  const key = (name: string) => `context "${CONTEXT_PREFIX}${name}"`;
  if (settings.minCapacity > settings.maxCapacity) {
    throw new EgressProxyValidationError(
      key('minCapacity'),
      `(${settings.minCapacity}) must not exceed ${CONTEXT_PREFIX}maxCapacity (${settings.maxCapacity})`,
    );
  }
  const desired = settings.desiredCapacity;
  if (desired !== undefined && (desired < settings.minCapacity || desired > settings.maxCapacity)) {
    throw new EgressProxyValidationError(
      key('desiredCapacity'),
      `(${desired}) must be between minCapacity (${settings.minCapacity}) and maxCapacity (${settings.maxCapacity})`,
    );
  }
  return settings;
}

/** Context keys with the prefix that no setting reads: a typo would otherwise be ignored. */
function rejectUnknown(node: Node, known: ReadonlySet<string>): void {
  const unknown = Object.keys(node.getAllContext() as Record<string, unknown>)
    .filter((key) => key.startsWith(CONTEXT_PREFIX) && !known.has(key.slice(CONTEXT_PREFIX.length)))
    .sort();
  if (unknown.length > 0) {
    throw new EgressProxyValidationError(
      `context "${unknown[0]}"`,
      `is not a known setting${unknown.length > 1 ? ` (nor ${unknown.slice(1).join(', ')})` : ''}; known: ${[...known].map((name) => CONTEXT_PREFIX + name).join(', ')}`,
    );
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : `${typeof value} ${JSON.stringify(value)}`;
}

function invalid(key: string, expected: string, value: unknown): EgressProxyValidationError {
  return new EgressProxyValidationError(`context "${key}"`, `must be ${expected}, got ${describe(value)}`);
}

function int(min: number, max: number): Reader<number> {
  return (value, key) => {
    const n = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw invalid(key, `an integer from ${min} to ${max}`, value);
    }
    return n;
  };
}

function pattern(re: RegExp, expected: string): Reader<string> {
  return (value, key) => {
    if (typeof value !== 'string' || !re.test(value)) throw invalid(key, expected, value);
    return value;
  };
}

function oneOf<const T extends readonly string[]>(choices: T): Reader<T[number]> {
  return (value, key) => {
    if (typeof value !== 'string' || !choices.includes(value)) {
      throw invalid(key, `one of ${choices.join(', ')}`, value);
    }
    return value as T[number];
  };
}

const bool: Reader<boolean> = (value, key) => {
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw invalid(key, 'true or false', value);
};

const cidr: Reader<string> = pattern(
  /^(\d{1,3}\.){3}\d{1,3}\/(\d|[12]\d|3[0-2])$/,
  'an IPv4 CIDR like 10.0.0.0/16',
);

function list<T>(item: Reader<T>): Reader<T[]> {
  return (value, key) => {
    let items = value;
    if (typeof value === 'string') {
      const text = value.trim();
      items = text.startsWith('[') ? parseJson(text, key) : text.split(',').map((s) => s.trim());
    }
    if (!Array.isArray(items)) throw invalid(key, 'a list', value);
    return items.map((entry, i) => item(entry, `${key}[${i}]`));
  };
}

const stringList: Reader<string[]> = list((value, key) => {
  if (typeof value !== 'string') throw invalid(key, 'a string', value);
  return value;
});

function parseJson(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw invalid(key, 'a JSON list', text);
  }
}
