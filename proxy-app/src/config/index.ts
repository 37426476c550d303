export { ConfigError, parseConfig } from './parse.js';
export { configPath, loadConfigFile } from './load.js';
export { DEFAULTS, LOG_LEVELS } from './schema.js';
export type {
  EgressProxyConfig,
  EgressProxyConfigInput,
  LifecycleSettings,
  ListenAddress,
  LogLevel,
} from './schema.js';
