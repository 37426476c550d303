/**
 * The one configuration file that both the proxy and the sidecar read, and that the CDK app
 * renders for each instance. This module and its siblings have no runtime dependencies beyond
 * Node's standard library, so the CDK app can import them to validate at synth time.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ListenAddress {
  /** IP address to bind (an IP literal, not a name). */
  readonly host: string;
  readonly port: number;
}

export const FORWARDED_FOR = ['strip', 'append'] as const;

export interface EgressProxyConfig {
  /**
   * Where workloads send their traffic. `workers`: processes to run, `"auto"` is one per core.
   * `forwardedFor`: client addresses on forwarded requests; `"strip"` removes X-Forwarded-For,
   * Forwarded and X-Real-IP (internal addresses stay inside), `"append"` keeps X-Forwarded-For and
   * adds the client's.
   */
  readonly proxy: ListenAddress & {
    readonly workers: number | 'auto';
    readonly forwardedFor: (typeof FORWARDED_FOR)[number];
  };
  /** The sidecar: `/healthcheck` for the load balancer, and the probe's own target. */
  readonly health: ListenAddress;
  /** Prometheus metrics of the proxy. Must be a loopback address. */
  readonly metrics: ListenAddress;
  /** Destination host patterns: `example.com`, `*.example.com` (subdomains only), optional `:port`. */
  readonly allow: readonly string[];
  /** Ports a destination may use when its pattern names none. */
  readonly allowPorts: readonly number[];
  /** Address ranges a destination may resolve to or name directly, even if private. */
  readonly allowCidrs: readonly string[];
  readonly timeouts: {
    /** Upstream TCP connect. */
    readonly connectMs: number;
    /** Inactivity on tunnels, forwarded exchanges and kept-alive client connections. */
    readonly idleMs: number;
    /** A client must send complete request headers within this (slowloris guard). */
    readonly headersMs: number;
    /**
     * Once a drain starts (SIGTERM, or the sidecar's lifecycle), tunnels still moving bytes get
     * this long to finish; then what is left is closed.
     */
    readonly drainMs: number;
    /** While draining, a tunnel that carried no byte for this long is closed at once. */
    readonly drainIdleMs: number;
  };
  readonly limits: {
    /** Client connections across all workers; beyond this, 503. */
    readonly maxConnections: number;
    /** Request line plus headers; beyond this, 431. */
    readonly maxHeaderBytes: number;
  };
  readonly probe: {
    /** A proxied probe gives up after this; keep it below the load balancer's check timeout. */
    readonly timeoutMs: number;
    /** A probe result answers health checks for this long. */
    readonly cacheMs: number;
  };
  readonly dns: {
    /** Resolved addresses are reused for this long (the system resolver gives no TTLs). */
    readonly cacheMs: number;
    /** A name that failed to resolve fails again without a lookup for this long. */
    readonly negativeCacheMs: number;
  };
  readonly log: {
    readonly level: LogLevel;
    /** Lines waiting for a slow stdout are held up to this many bytes; beyond, dropped and counted. */
    readonly maxBufferBytes: number;
  };
  /**
   * Auto Scaling lifecycle hooks, followed by the sidecar through instance metadata (on EC2
   * only): launch readiness and termination draining.
   */
  readonly lifecycle: LifecycleSettings;
  /**
   * Where the policy (`allow`, `allowPorts`, `allowCidrs`) comes from when it is deployed
   * separately from the instance: the sidecar fetches it and writes `file`, the proxy overlays
   * `file` on this config's own lists.
   */
  readonly policy: PolicySettings;
}

/** The three keys that decide where traffic may go: the policy document's only keys. */
export const POLICY_KEYS = ['allow', 'allowPorts', 'allowCidrs'] as const;
export type PolicyDocument = Pick<EgressProxyConfig, (typeof POLICY_KEYS)[number]>;

/** Destination and listener ports. */
export const PORT_RANGE = [1, 65_535] as const;

/**
 * AppConfig's bounds for `RequiredMinimumPollIntervalInSeconds` (OptionalPollSeconds, @range 15 to
 * 86400, in the appconfigdata service model).
 */
export const APPCONFIG_POLL_SECONDS_RANGE = [15, 86_400] as const;

export interface PolicySettings {
  /**
   * A policy document (`{"allow": [...], "allowPorts": [...], "allowCidrs": [...]}`) the proxy
   * reads at start and on every reload; when it exists it replaces the config's own lists. The
   * sidecar's policy agent writes it. null: the config's own lists are the policy.
   */
  readonly file: string | null;
  /** The deployed policy the sidecar polls; null: no polling. */
  readonly appConfig: AppConfigSource | null;
  /**
   * SSM parameter with the boot fallback policy: read when no policy is in force yet and AppConfig
   * gave none within `bootWaitMs`. Named here, not copied, so the instance config (and the launch
   * template carrying it) does not change when the policy does.
   */
  readonly bootParameter: string | null;
  /** How long a starting sidecar waits for AppConfig before it falls back to `bootParameter`. */
  readonly bootWaitMs: number;
  /** Region of the AppConfig and SSM APIs; null reads it from instance metadata. */
  readonly region: string | null;
}

export interface AppConfigSource {
  /** Application, environment and configuration profile: ids or names. */
  readonly application: string;
  readonly environment: string;
  readonly profile: string;
  /**
   * Sent as `RequiredMinimumPollIntervalInSeconds` (default: AppConfig's minimum, 15); the sidecar
   * then polls at the pace AppConfig answers with (`NextPollIntervalInSeconds`).
   */
  readonly pollIntervalSeconds: number;
}

export interface LifecycleSettings {
  readonly enabled: boolean;
  /** Instance metadata service (IMDSv2). */
  readonly imdsUrl: string;
  /** Region of the Auto Scaling and load balancing APIs; null reads it from instance metadata. */
  readonly region: string | null;
  /** The target group this instance deregisters itself from; required when enabled. */
  readonly targetGroupArn: string | null;
  readonly launchHookName: string;
  readonly terminateHookName: string;
  /** Consecutive successful probes that make a launching instance ready. */
  readonly readySuccesses: number;
  /** A launching instance not ready by then abandons its launch (keep it below the hook timeout). */
  readonly launchTimeoutMs: number;
  /** Heartbeat interval while draining (keep it below the terminating hook timeout). */
  readonly heartbeatMs: number;
  /** How often the target lifecycle state is read. */
  readonly pollMs: number;
  /**
   * How often the load balancer's view of this target is read (DescribeTargetHealth): a target
   * turning `draining` means deregistration began, whatever instance metadata says yet.
   */
  readonly targetHealthPollMs: number;
  /**
   * Once drained, how long the terminating hook may take to become active (the deregistration
   * delay, when the load balancer does not end it early, plus Auto Scaling's own step).
   */
  readonly terminateWaitMs: number;
}

type DeepPartial<T> = {
  -readonly [K in keyof T]?: T[K] extends readonly (infer E)[]
    ? E[]
    : T[K] extends object
      ? DeepPartial<T[K]>
      : T[K];
};

/** What a config file (or the CDK app) may give: everything but `allow` is optional. */
export type EgressProxyConfigInput = DeepPartial<Omit<EgressProxyConfig, 'allow'>> & {
  allow: string[];
};

export const DEFAULTS: Omit<EgressProxyConfig, 'allow'> = {
  proxy: { host: '0.0.0.0', port: 3128, workers: 'auto', forwardedFor: 'strip' },
  health: { host: '0.0.0.0', port: 8081 },
  metrics: { host: '127.0.0.1', port: 9464 },
  allowPorts: [80, 443],
  allowCidrs: [],
  timeouts: { connectMs: 5_000, idleMs: 300_000, headersMs: 10_000, drainMs: 30_000, drainIdleMs: 5_000 },
  limits: { maxConnections: 50_000, maxHeaderBytes: 16_384 },
  probe: { timeoutMs: 2_000, cacheMs: 1_000 },
  dns: { cacheMs: 30_000, negativeCacheMs: 5_000 },
  log: { level: 'info', maxBufferBytes: 4 * 1024 * 1024 },
  lifecycle: {
    enabled: false,
    imdsUrl: 'http://169.254.169.254',
    region: null,
    targetGroupArn: null,
    launchHookName: 'egress-proxy-launching',
    terminateHookName: 'egress-proxy-terminating',
    readySuccesses: 3,
    launchTimeoutMs: 240_000,
    heartbeatMs: 60_000,
    pollMs: 5_000,
    targetHealthPollMs: 10_000,
    terminateWaitMs: 360_000,
  },
  policy: {
    file: null,
    appConfig: null,
    bootParameter: null,
    bootWaitMs: 10_000,
    region: null,
  },
};
