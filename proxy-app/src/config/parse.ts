import { isIP } from 'node:net';
import { parseAllowPattern } from '../policy/patterns.js';
import { parseCidr, parseIp } from '../policy/ip.js';
import { isLoopback } from '../policy/special-ranges.js';
import {
  APPCONFIG_POLL_SECONDS_RANGE,
  DEFAULTS,
  FORWARDED_FOR,
  LOG_LEVELS,
  POLICY_KEYS,
  PORT_RANGE,
  type AppConfigSource,
  type EgressProxyConfig,
  type LifecycleSettings,
  type ListenAddress,
  type PolicyDocument,
  type PolicySettings,
} from './schema.js';

/** A config that cannot be used. `key` is the dotted path of the offending setting. */
export class ConfigError extends Error {
  readonly code = 'EGRESS_CONFIG_INVALID';
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(key ? `config key "${key}": ${problem}` : `config: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Json = Record<string, unknown>;

/**
 * Validates a parsed config object, fills in defaults and returns a deep-frozen config.
 * Throws ConfigError naming the first offending key.
 */
export function parseConfig(raw: unknown): EgressProxyConfig {
  const root = section(raw, '', [
    'proxy',
    'health',
    'metrics',
    'allow',
    'allowPorts',
    'allowCidrs',
    'timeouts',
    'limits',
    'probe',
    'dns',
    'log',
    'lifecycle',
    'policy',
  ]);

  const proxy = section(root.proxy, 'proxy', ['host', 'port', 'workers', 'forwardedFor']);
  const log = section(root.log, 'log', ['level', 'maxBufferBytes']);
  const config: EgressProxyConfig = {
    proxy: {
      ...listenAddress(proxy, 'proxy', DEFAULTS.proxy),
      workers: workers(proxy.workers),
      forwardedFor: oneOf(
        proxy.forwardedFor,
        'proxy.forwardedFor',
        FORWARDED_FOR,
        DEFAULTS.proxy.forwardedFor,
      ),
    },
    health: listenAddress(section(root.health, 'health', ['host', 'port']), 'health', DEFAULTS.health),
    metrics: listenAddress(section(root.metrics, 'metrics', ['host', 'port']), 'metrics', DEFAULTS.metrics),
    ...policyFields(root),
    timeouts: numbers(root.timeouts, 'timeouts', DEFAULTS.timeouts, {
      connectMs: [1, 600_000],
      idleMs: [1_000, 86_400_000],
      headersMs: [1, 600_000],
      drainMs: [0, 3_600_000],
      drainIdleMs: [100, 3_600_000],
    }),
    limits: numbers(root.limits, 'limits', DEFAULTS.limits, {
      maxConnections: [1, 10_000_000],
      maxHeaderBytes: [1_024, 1_048_576],
    }),
    probe: numbers(root.probe, 'probe', DEFAULTS.probe, {
      timeoutMs: [100, 120_000],
      cacheMs: [0, 60_000],
    }),
    dns: numbers(root.dns, 'dns', DEFAULTS.dns, { cacheMs: [0, 3_600_000], negativeCacheMs: [0, 600_000] }),
    log: {
      level: oneOf(log.level, 'log.level', LOG_LEVELS, DEFAULTS.log.level),
      ...readNumbers(
        log,
        'log',
        { maxBufferBytes: DEFAULTS.log.maxBufferBytes },
        { maxBufferBytes: [65_536, 1_073_741_824] },
      ),
    },
    lifecycle: lifecycle(root.lifecycle),
    policy: policy(root.policy),
  };
  for (const key of ['proxy', 'health'] as const) {
    const host = config[key].host;
    if (!isWildcard(host) && !isLoopback(parseIp(host)!)) {
      throw new ConfigError(
        `${key}.host`,
        `must be a wildcard (0.0.0.0, ::) or loopback address so the sidecar's probe can reach it from this host, got "${host}"`,
      );
    }
  }
  if (!isLoopback(parseIp(config.metrics.host)!)) {
    throw new ConfigError('metrics.host', `must be a loopback address, got "${config.metrics.host}"`);
  }
  const ports = [
    ['proxy.port', config.proxy.port],
    ['health.port', config.health.port],
    ['metrics.port', config.metrics.port],
  ] as const;
  for (const [key, value] of ports) {
    const clash = ports.find(([other, otherValue]) => other !== key && otherValue === value);
    if (clash) throw new ConfigError(key, `${value} is also ${clash[0]}; each listener needs its own port`);
  }
  return deepFreeze(config);
}

/**
 * Validates a policy document (what AppConfig, the boot parameter and the policy file hold): only
 * `allow` (required), `allowPorts` and `allowCidrs`, checked exactly as in a config file; absent
 * lists take the defaults, not the config's. Throws ConfigError naming the first offending key.
 */
export function parsePolicyDocument(raw: unknown): PolicyDocument {
  return deepFreeze(policyFields(section(raw, '', POLICY_KEYS)));
}

function policyFields(root: Json): PolicyDocument {
  if (root.allow === undefined) throw new ConfigError('allow', 'is required (a list of host patterns)');
  return {
    allow: list(root.allow, 'allow', [], acceptedBy(parseAllowPattern)),
    allowPorts: list(root.allowPorts, 'allowPorts', DEFAULTS.allowPorts, port),
    allowCidrs: list(root.allowCidrs, 'allowCidrs', DEFAULTS.allowCidrs, acceptedBy(parseCidr)),
  };
}

/**
 * `host:port` at which a process on this host reaches a listener: a wildcard listener over
 * loopback, any other (loopback, as parseConfig requires) at its own address.
 */
export function reachableAt({ host, port }: ListenAddress): string {
  const address = isWildcard(host) ? (host === '::' ? '::1' : '127.0.0.1') : host;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** 0.0.0.0 or :: : listens on every interface, loopback included. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

function section(value: unknown, key: string, known: readonly string[]): Json {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(key, `must be an object, got ${describe(value)}`);
  }
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) {
      const path = key ? `${key}.${name}` : name;
      throw new ConfigError(path, `is not a known setting (known here: ${known.join(', ')})`);
    }
  }
  return value as Json;
}

function listenAddress(
  value: Json,
  key: string,
  defaults: { host: string; port: number },
): { host: string; port: number } {
  const host = value.host === undefined ? defaults.host : string(value.host, `${key}.host`);
  if (isIP(host) === 0) {
    throw new ConfigError(`${key}.host`, `must be an IP address to listen on, got "${host}"`);
  }
  return { host, port: value.port === undefined ? defaults.port : port(value.port, `${key}.port`) };
}

function lifecycle(value: unknown): LifecycleSettings {
  const defaults = DEFAULTS.lifecycle;
  const given = section(value, 'lifecycle', Object.keys(defaults));
  const text = (name: keyof LifecycleSettings): string | null =>
    given[name] === undefined || given[name] === null
      ? (defaults[name] as string | null)
      : string(given[name], `lifecycle.${name}`);
  const settings: LifecycleSettings = {
    enabled: given.enabled === undefined ? defaults.enabled : boolean(given.enabled, 'lifecycle.enabled'),
    imdsUrl: text('imdsUrl')!,
    region: text('region'),
    targetGroupArn: text('targetGroupArn'),
    launchHookName: text('launchHookName')!,
    terminateHookName: text('terminateHookName')!,
    ...readNumbers(
      given,
      'lifecycle',
      {
        readySuccesses: defaults.readySuccesses,
        launchTimeoutMs: defaults.launchTimeoutMs,
        heartbeatMs: defaults.heartbeatMs,
        pollMs: defaults.pollMs,
        targetHealthPollMs: defaults.targetHealthPollMs,
        terminateWaitMs: defaults.terminateWaitMs,
      },
      {
        readySuccesses: [1, 100],
        launchTimeoutMs: [1_000, 7_200_000],
        heartbeatMs: [1_000, 3_600_000],
        pollMs: [100, 60_000],
        targetHealthPollMs: [100, 600_000],
        terminateWaitMs: [1_000, 7_200_000],
      },
    ),
  };
  if (!/^https?:\/\/[^/]+$/.test(settings.imdsUrl)) {
    throw new ConfigError(
      'lifecycle.imdsUrl',
      `must be http://host[:port] with no path, got "${settings.imdsUrl}"`,
    );
  }
  if (settings.enabled && !settings.targetGroupArn) {
    throw new ConfigError('lifecycle.targetGroupArn', 'is required when lifecycle.enabled is true');
  }
  return settings;
}

function policy(value: unknown): PolicySettings {
  const defaults = DEFAULTS.policy;
  const given = section(value, 'policy', Object.keys(defaults));
  const text = (name: 'file' | 'bootParameter' | 'region'): string | null =>
    given[name] === undefined || given[name] === null
      ? defaults[name]
      : string(given[name], `policy.${name}`);
  const settings: PolicySettings = {
    file: text('file'),
    appConfig: appConfig(given.appConfig),
    bootParameter: text('bootParameter'),
    bootWaitMs:
      given.bootWaitMs === undefined
        ? defaults.bootWaitMs
        : integer(given.bootWaitMs, 'policy.bootWaitMs', 0, 600_000),
    region: text('region'),
  };
  if (settings.file !== null && !settings.file.startsWith('/')) {
    throw new ConfigError('policy.file', `must be an absolute path, got "${settings.file}"`);
  }
  for (const name of ['appConfig', 'bootParameter'] as const) {
    if (settings[name] !== null && settings.file === null) {
      throw new ConfigError(
        'policy.file',
        `is required when policy.${name} is set: the sidecar writes the policy there`,
      );
    }
  }
  return settings;
}

function appConfig(value: unknown): AppConfigSource | null {
  if (value === undefined || value === null) return null;
  const given = section(value, 'policy.appConfig', [
    'application',
    'environment',
    'profile',
    'pollIntervalSeconds',
  ]);
  const identifier = (name: 'application' | 'environment' | 'profile'): string => {
    const key = `policy.appConfig.${name}`;
    if (given[name] === undefined) throw new ConfigError(key, 'is required (an id or a name)');
    const text = string(given[name], key);
    // The service model's Identifier: 1 to 128 characters.
    if (text.length < 1 || text.length > 128) throw new ConfigError(key, 'must be 1 to 128 characters');
    return text;
  };
  const [minPoll, maxPoll] = APPCONFIG_POLL_SECONDS_RANGE;
  return {
    application: identifier('application'),
    environment: identifier('environment'),
    profile: identifier('profile'),
    pollIntervalSeconds:
      given.pollIntervalSeconds === undefined
        ? minPoll
        : integer(given.pollIntervalSeconds, 'policy.appConfig.pollIntervalSeconds', minPoll, maxPoll),
  };
}

function boolean(value: unknown, key: string): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(key, `must be true or false, got ${describe(value)}`);
  return value;
}

function workers(value: unknown): number | 'auto' {
  if (value === undefined || value === 'auto') return DEFAULTS.proxy.workers;
  return integer(value, 'proxy.workers', 1, 1024, 'or "auto"');
}

function list<T>(
  value: unknown,
  key: string,
  fallback: readonly T[],
  item: (value: unknown, key: string) => T,
): T[] {
  if (value === undefined) return [...fallback];
  if (!Array.isArray(value)) throw new ConfigError(key, `must be a list, got ${describe(value)}`);
  return value.map((entry, i) => item(entry, `${key}[${i}]`));
}

function numbers<T extends Record<string, number>>(
  value: unknown,
  key: string,
  defaults: T,
  ranges: { [K in keyof T]: readonly [number, number] },
): T {
  return readNumbers(section(value, key, Object.keys(defaults)), key, defaults, ranges);
}

/** The integer settings `ranges` names, from an already checked section. */
function readNumbers<T extends Record<string, number>>(
  given: Json,
  key: string,
  defaults: T,
  ranges: { [K in keyof T]: readonly [number, number] },
): T {
  const result: Record<string, number> = {};
  for (const [name, [min, max]] of Object.entries(ranges) as [string, [number, number]][]) {
    result[name] =
      given[name] === undefined ? defaults[name]! : integer(given[name], `${key}.${name}`, min, max);
  }
  return result as T;
}

/** A list item that must be a string `parse` accepts; what `parse` objects to becomes the key's message. */
function acceptedBy(parse: (text: string) => unknown): (item: unknown, key: string) => string {
  return (item, key) => {
    const text = string(item, key);
    try {
      parse(text);
    } catch (error) {
      throw new ConfigError(key, (error as Error).message);
    }
    return text;
  };
}

function port(value: unknown, key: string): number {
  return integer(value, key, PORT_RANGE[0], PORT_RANGE[1]);
}

function integer(value: unknown, key: string, min: number, max: number, alternative = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const also = alternative ? ` ${alternative}` : '';
    throw new ConfigError(key, `must be an integer from ${min} to ${max}${also}, got ${describe(value)}`);
  }
  return value;
}

function string(value: unknown, key: string): string {
  if (typeof value !== 'string') throw new ConfigError(key, `must be a string, got ${describe(value)}`);
  return value;
}

function oneOf<T extends string>(value: unknown, key: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  const text = string(value, key);
  if (!(choices as readonly string[]).includes(text)) {
    throw new ConfigError(key, `must be one of ${choices.join(', ')}, got "${text}"`);
  }
  return text as T;
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
