// The public API of the package: what another CDK app imports from 'egress-proxy'.
export { EgressProxyStack, type EgressProxyStackProps } from './egress-proxy-stack.js';
export { EgressProxyFleet, HEALTH_CHECK_PATH, type EgressProxyFleetProps } from './egress-proxy-fleet.js';
export { BuiltMachineImage, ProxyImage, type ProxyImageProps } from './proxy-image.js';
export { AccessLogAlarms, type AccessLogAlarmsProps } from './access-log-alarms.js';
export { AlarmNotifications, type AlarmNotificationsProps } from './alarm-actions.js';
export { EgressProxyDashboard, type EgressProxyDashboardProps } from './dashboard.js';
export { defaultMetricNamespace, FleetMetrics, type FleetMetricsProps } from './fleet-metrics.js';
export {
  EXPORTED_METRICS,
  INSTANCE_LABEL,
  PROXY_JOB,
  SIDECAR_JOB,
  ZONE_LABEL,
  type ExportedMetric,
  type MetricScope,
} from './prometheus-metrics.js';
export { ProxyLifecycleHooks, type ProxyLifecycleHooksProps } from './lifecycle-hooks.js';
export { POLICY_FILE_PATH, PolicyDistribution, type PolicyDistributionProps } from './policy-distribution.js';
export { POLICY_TAGS } from './policy-tags.js';
export {
  admitWorkload,
  createEgressVpc,
  WORKLOAD_SUBNET_GROUP,
  workloadSubnets,
  type AdmitOptions,
  type EgressVpcProps,
} from './network.js';
export {
  buildInstanceConfig,
  INSTANCE_CONFIG_PATH,
  policyDocument,
  withPolicySource,
} from './instance-config.js';
export {
  CONTEXT_PREFIX,
  DEFAULT_SETTINGS,
  settingsFromContext,
  type EgressProxySettings,
  type ProxyArchitecture,
} from './settings.js';
export { EgressProxyPackageError, EgressProxyValidationError } from './errors.js';
export { DEFAULT_BUNDLE_DIRECTORY, DEFAULT_IMAGE_DIRECTORY } from './paths.js';
export type { Timing } from './timing.js';
// The instance config: its type, defaults and validator are the ones the proxy runs.
export {
  ConfigError,
  DEFAULTS as CONFIG_DEFAULTS,
  LOG_LEVELS,
  parseConfig,
  parsePolicyDocument,
  POLICY_KEYS,
  policyJsonSchema,
  type AppConfigSource,
  type EgressProxyConfig,
  type EgressProxyConfigInput,
  type LifecycleSettings,
  type ListenAddress,
  type LogLevel,
  type PolicyDocument,
  type PolicySettings,
} from '../proxy-app/src/config/index.js';
