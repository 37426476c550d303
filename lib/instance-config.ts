import {
  ConfigError,
  parseConfig,
  type EgressProxyConfig,
  type EgressProxyConfigInput,
  type LifecycleSettings,
  type LogLevel,
  type PolicyDocument,
  type PolicySettings,
} from '../proxy-app/src/config/index.js';
import { EgressProxyValidationError } from './errors.js';
import type { EgressProxySettings } from './settings.js';

/** Where user data writes the config and where both units read it. */
export const INSTANCE_CONFIG_PATH = '/etc/egress-proxy/config.json';

/** The policy part of the settings; `PolicyDistribution` validates it with proxy-app's own validator. */
export function policyDocument(settings: EgressProxySettings): PolicyDocument {
  return {
    allow: [...settings.allow],
    allowPorts: [...settings.allowPorts],
    allowCidrs: [...settings.allowCidrs],
  };
}

/**
 * Builds the instance config from the settings through proxy-app's own validator, so the file the
 * CDK app writes is one the proxy accepts. It carries no policy: its own allowlist is empty (deny
 * everything) and `withPolicySource` adds where the deployed policy comes from, by name, so the
 * launch template does not change when the policy does.
 */
export function buildInstanceConfig(settings: EgressProxySettings): EgressProxyConfig {
  const input: EgressProxyConfigInput = {
    allow: [],
    // 0.0.0.0: the load balancer's nodes reach both listeners on the instance's VPC address.
    proxy: { host: '0.0.0.0', port: settings.proxyPort },
    health: { host: '0.0.0.0', port: settings.healthPort },
    // drainMs follows from the drain bound and is set by the fleet (timing.ts).
    timeouts: { drainIdleMs: settings.drainIdleMs },
    probe: { timeoutMs: settings.probeTimeoutMs },
    // parseConfig rejects an unknown level, so the cast only defers the check to it.
    log: { level: settings.logLevel as LogLevel },
  };
  return validated(input);
}

/** What the fleet adds to the instance config once it knows its resources and timing. */
export interface FleetConfigOverrides {
  readonly timeouts?: Partial<EgressProxyConfig['timeouts']>;
  readonly lifecycle?: Partial<LifecycleSettings>;
}

/** The config with the fleet's sections merged in, re-validated. */
export function withFleetSettings(
  config: EgressProxyConfig,
  overrides: FleetConfigOverrides,
): EgressProxyConfig {
  return validated({
    ...structuredClone(config),
    timeouts: { ...config.timeouts, ...overrides.timeouts },
    lifecycle: { ...config.lifecycle, ...overrides.lifecycle },
  });
}

/** The config with its `policy` section (see `PolicyDistribution.instanceSettings`), re-validated. */
export function withPolicySource(config: EgressProxyConfig, policy: PolicySettings): EgressProxyConfig {
  return validated({ ...structuredClone(config), policy });
}

function validated(input: unknown): EgressProxyConfig {
  try {
    return parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new EgressProxyValidationError('instance config', `is invalid: ${error.message}`);
    }
    throw error;
  }
}
