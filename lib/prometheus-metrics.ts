import type { EgressProxyConfig, ListenAddress } from '../proxy-app/src/config/index.js';
import { reachableAt } from '../proxy-app/src/config/parse.js';

/**
 * The metric path: on each instance the CloudWatch agent scrapes the proxy's and the sidecar's
 * loopback `/metrics` once a minute and writes the series as embedded metric format (EMF) log
 * events; CloudWatch turns the series selected here into metrics. The processes pay nothing per
 * request for it. Facts this relies on (CloudWatch user guide, "Set up and configure Prometheus
 * metrics collection on Amazon EC2 instances" and "Prometheus metric type conversion by the
 * CloudWatch agent"): the agent reads a standard Prometheus scrape config (static_configs with
 * labels) from `prometheus_config_path`; `metric_declaration` picks series by `source_labels` /
 * `label_matcher` and `metric_selectors` and names their `dimensions`; counters are sent as the
 * delta since the previous scrape; summaries keep their quantiles; histograms are dropped.
 */

/** The `job` label of every series from the proxy. */
export const PROXY_JOB = 'egress-proxy';
/** The `job` label of every series from the sidecar. */
export const SIDECAR_JOB = 'egress-proxy-sidecar';
/** Labels the scrape config adds to every series: which instance and zone it came from. */
export const INSTANCE_LABEL = 'instance_id';
export const ZONE_LABEL = 'availability_zone';

/** Which groupings of a metric reach CloudWatch. */
export type MetricScope = 'fleet' | 'zone' | 'instance';

/** A Prometheus series exported to CloudWatch. */
export interface ExportedMetric {
  readonly job: typeof PROXY_JOB | typeof SIDECAR_JOB;
  /** The Prometheus name, which is also the CloudWatch metric name. */
  readonly name: string;
  /** CloudWatch unit of the values. */
  readonly unit: 'Count' | 'Bytes' | 'Seconds';
  /** Labels kept as dimensions in every grouping. */
  readonly by: readonly string[];
  /** Fleet-wide, per availability zone (`availability_zone`), per instance (`instance_id`). */
  readonly scopes: readonly MetricScope[];
  /** Further fleet-wide breakdowns, each a list of labels. */
  readonly fleetBreakdowns?: readonly (readonly string[])[];
}

const ALL_SCOPES: readonly MetricScope[] = ['fleet', 'zone', 'instance'];

/**
 * What reaches CloudWatch. Counters become per-minute counts (Sum), gauges one value per instance
 * and minute, summaries their 0.5 and 0.99 quantiles over the last minute (dimension `quantile`).
 */
export const EXPORTED_METRICS = {
  requests: {
    job: PROXY_JOB,
    name: 'egress_proxy_requests_total',
    unit: 'Count',
    by: ['decision'],
    scopes: ALL_SCOPES,
    fleetBreakdowns: [['decision', 'status']],
  },
  openTunnels: {
    job: PROXY_JOB,
    name: 'egress_proxy_open_tunnels',
    unit: 'Count',
    by: [],
    // A fleet-wide sum of gauges sampled once a minute per instance is not one number.
    scopes: ['zone', 'instance'],
  },
  openConnections: {
    job: PROXY_JOB,
    name: 'egress_proxy_open_connections',
    unit: 'Count',
    by: [],
    scopes: ['zone', 'instance'],
  },
  bytes: {
    job: PROXY_JOB,
    name: 'egress_proxy_bytes_total',
    unit: 'Bytes',
    by: ['direction'],
    scopes: ALL_SCOPES,
  },
  upstreamConnect: {
    job: PROXY_JOB,
    name: 'egress_proxy_upstream_connect_recent_seconds',
    unit: 'Seconds',
    by: ['quantile'],
    scopes: ALL_SCOPES,
  },
  policyVersion: {
    job: PROXY_JOB,
    name: 'egress_proxy_policy_info',
    unit: 'Count',
    by: ['version'],
    scopes: ['fleet', 'instance'],
  },
  probes: {
    job: SIDECAR_JOB,
    name: 'egress_proxy_probes_total',
    unit: 'Count',
    by: ['result'],
    scopes: ALL_SCOPES,
    fleetBreakdowns: [['mode', 'result']],
  },
  probeLatency: {
    job: SIDECAR_JOB,
    name: 'egress_proxy_probe_seconds',
    unit: 'Seconds',
    by: ['quantile'],
    scopes: ALL_SCOPES,
    fleetBreakdowns: [['mode', 'quantile']],
  },
} as const satisfies Record<string, ExportedMetric>;

/** One `metric_declaration` entry of the agent's `emf_processor`. */
export interface MetricDeclaration {
  readonly source_labels: string[];
  readonly label_matcher: string;
  readonly dimensions: string[][];
  readonly metric_selectors: string[];
}

/** The dimension sets of a metric: its scopes, then its fleet-wide breakdowns. */
export function dimensionSets(metric: ExportedMetric): string[][] {
  const scoped = metric.scopes.map((scope) => [
    ...(scope === 'zone' ? [ZONE_LABEL] : scope === 'instance' ? [INSTANCE_LABEL] : []),
    ...metric.by,
  ]);
  return [...scoped, ...(metric.fleetBreakdowns ?? []).map((labels) => [...labels])];
}

/** The agent's metric declarations: each exported metric, from its own job only. */
export function metricDeclarations(): MetricDeclaration[] {
  return Object.values(EXPORTED_METRICS).map((metric: ExportedMetric) => ({
    source_labels: ['job'],
    // Anchored, so the match is exact whether or not the agent anchors it.
    label_matcher: `^${metric.job}$`,
    dimensions: dimensionSets(metric),
    metric_selectors: [`^${metric.name}$`],
  }));
}

/** The values of the labels the scrape config adds (shell variables in user data). */
export interface TargetLabels {
  readonly instanceId: string;
  readonly availabilityZone: string;
}

/** The Prometheus scrape config: both processes on loopback, once a minute. */
export function scrapeConfig(config: EgressProxyConfig, labels: TargetLabels): object {
  const target = (job: string, address: ListenAddress) => ({
    job_name: job,
    // A runaway label would otherwise become thousands of log events a minute.
    sample_limit: 1000,
    static_configs: [
      {
        // parseConfig keeps both listeners reachable on loopback, where the sidecar serves /metrics.
        targets: [reachableAt(address)],
        labels: { [INSTANCE_LABEL]: labels.instanceId, [ZONE_LABEL]: labels.availabilityZone },
      },
    ],
  });
  return {
    global: { scrape_interval: '1m', scrape_timeout: '10s' },
    scrape_configs: [target(PROXY_JOB, config.metrics), target(SIDECAR_JOB, config.health)],
  };
}

export interface PrometheusAgentOptions {
  /** CloudWatch namespace of the metrics. */
  readonly namespace: string;
  /** Log group of the EMF events (every scraped series, selected or not). */
  readonly logGroupName: string;
  /** Where user data writes the scrape config. */
  readonly scrapeConfigPath: string;
}

/** The agent config's `logs.metrics_collected.prometheus` section. */
export function prometheusAgentSection(options: PrometheusAgentOptions): object {
  return {
    log_group_name: options.logGroupName,
    prometheus_config_path: options.scrapeConfigPath,
    emf_processor: {
      metric_declaration_dedup: true,
      metric_namespace: options.namespace,
      metric_unit: Object.fromEntries(
        Object.values(EXPORTED_METRICS).map((m: ExportedMetric) => [m.name, m.unit]),
      ),
      metric_declaration: metricDeclarations(),
    },
  };
}

/** Where user data writes the scrape config on an instance. */
export const SCRAPE_CONFIG_PATH = '/opt/aws/amazon-cloudwatch-agent/etc/egress-proxy-prometheus.json';

/**
 * User data lines that write the scrape config (JSON, which Prometheus reads as YAML) with this
 * instance's id and zone from instance metadata (IMDSv2). Without metadata the labels say
 * `unknown` and the instance still boots: metrics must never keep the proxy from serving.
 */
export function scrapeConfigCommands(config: EgressProxyConfig): string[] {
  const imds = 'http://169.254.169.254/latest';
  const curl = 'curl -fsS --connect-timeout 1 --max-time 3';
  const json = JSON.stringify(
    scrapeConfig(config, {
      instanceId: '${EGRESS_PROXY_INSTANCE_ID}',
      availabilityZone: '${EGRESS_PROXY_ZONE}',
    }),
  );
  return [
    'egress_proxy_metadata() {',
    `  local token; token="$(${curl} -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${imds}/api/token)" &&`,
    `    ${curl} -H "X-aws-ec2-metadata-token: \${token}" "${imds}/meta-data/$1"`,
    '}',
    'EGRESS_PROXY_INSTANCE_ID="$(egress_proxy_metadata instance-id || echo unknown)"',
    'EGRESS_PROXY_ZONE="$(egress_proxy_metadata placement/availability-zone || echo unknown)"',
    // Unquoted delimiter: the two variables expand; the JSON holds no other $, ` or \.
    `cat > ${SCRAPE_CONFIG_PATH} <<EGRESS_PROXY_PROMETHEUS`,
    json,
    'EGRESS_PROXY_PROMETHEUS',
  ];
}
