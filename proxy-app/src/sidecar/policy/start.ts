import { AppConfigDataClient } from '@aws-sdk/client-appconfigdata';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { EgressProxyConfig } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import { systemClock } from '../lifecycle/clock.js';
import { Imds, whenMetadataAnswers } from '../lifecycle/imds.js';
import { PolicyAgent } from './agent.js';
import { AppConfigPolicySource } from './appconfig.js';
import { BootParameterSource } from './boot-parameter.js';
import type { ProxyPolicy } from './proxy-policy.js';

/** Without these the SDK's Node handler can wait indefinitely on a black-holed endpoint. */
const REQUEST_HANDLER = { connectionTimeout: 2_000, requestTimeout: 5_000 };

/** Whether the config asks for a policy agent: a policy file and somewhere to fetch the policy from. */
export function wantsPolicyAgent(config: EgressProxyConfig): boolean {
  const { file, appConfig, bootParameter } = config.policy;
  return file !== null && (appConfig !== null || bootParameter !== null);
}

/**
 * Builds the policy agent on the AWS SDK clients: AppConfig's data API and SSM for the boot
 * parameter. The region, unless configured, comes from instance metadata, which is waited for.
 * Endpoints honour AWS_ENDPOINT_URL_*.
 */
export async function createPolicyAgent(
  config: EgressProxyConfig,
  proxy: ProxyPolicy,
  logger: Logger,
): Promise<PolicyAgent> {
  const settings = config.policy;
  const imds = new Imds(config.lifecycle.imdsUrl);
  const regionFromImds = async (): Promise<string> => {
    const path = '/latest/meta-data/placement/region';
    const value = await whenMetadataAnswers(
      () => imds.get(path),
      logger,
      'policy: waiting for instance metadata',
    );
    if (!value) throw new Error(`instance metadata has no ${path}`);
    return value;
  };
  const region = settings.region ?? (await regionFromImds());
  const clientOptions = { region, maxAttempts: 2, requestHandler: REQUEST_HANDLER };
  return new PolicyAgent({
    file: settings.file!,
    appConfig: settings.appConfig
      ? new AppConfigPolicySource(new AppConfigDataClient(clientOptions), settings.appConfig)
      : undefined,
    bootParameter:
      settings.bootParameter === null
        ? undefined
        : new BootParameterSource(new SSMClient(clientOptions), settings.bootParameter),
    proxy,
    clock: systemClock,
    logger,
    bootWaitMs: settings.bootWaitMs,
    maxRetryMs: (settings.appConfig?.pollIntervalSeconds ?? 60) * 1000,
  });
}
