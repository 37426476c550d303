export { ConfigError, parseConfig, parsePolicyDocument } from './parse.js';
export { configPath, loadConfigFile, loadProxyConfig } from './load.js';
export { policyJsonSchema } from './policy-schema.js';
export { APPCONFIG_POLL_SECONDS_RANGE, DEFAULTS, LOG_LEVELS, POLICY_KEYS } from './schema.js';
export type {
  AppConfigSource,
  EgressProxyConfig,
  EgressProxyConfigInput,
  LifecycleSettings,
  ListenAddress,
  LogLevel,
  PolicyDocument,
  PolicySettings,
} from './schema.js';
