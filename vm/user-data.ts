import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import {
  buildInstanceConfig,
  policyDocument,
  withFleetSettings,
  withPolicySource,
} from '../lib/instance-config.js';
import { POLICY_FILE_PATH } from '../lib/policy-distribution.js';
import type { PolicyDocument } from '../proxy-app/src/config/index.js';
import { CONTEXT_PREFIX, settingsFromContext } from '../lib/settings.js';
import { drainTiming } from '../lib/timing.js';
import { proxyUserData } from '../lib/user-data.js';
import { REPO_ROOT } from './paths.js';

/** A destination served inside the guest (vm/boot.ts maps it to the guest's own address). */
export const ORIGIN_HOST = 'origin.vm.test';
/** The guest's address on QEMU user networking. */
export const GUEST_ADDRESS = '10.0.2.15';
/** Stands in for the stack's target group ARN (a token at synth). */
export const TEST_TARGET_GROUP_ARN =
  'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/vm-test/0';
/** Stands in for the stack's log group name (a token at synth). */
export const TEST_LOG_GROUP = 'egress-proxy-vm-test';
/** Stand in for the fleet's metric namespace and EMF log group (FleetMetrics). */
export const TEST_METRICS = { namespace: 'EgressProxy/VmTest', logGroupName: 'egress-proxy-vm-test-metrics' };

export interface RenderedUserData {
  readonly script: string;
  /** The proxy's drain deadline in the rendered config (`timeouts.drainMs`). */
  readonly drainMs: number;
  /**
   * The policy the stack would deploy through AppConfig, with the test's changes. The user data
   * does not carry it; the test installs it as the sidecar's policy agent would (the guest has no
   * AppConfig to fetch it from).
   */
  readonly policy: PolicyDocument;
}

/**
 * The user data the CDK app renders for a default deployment: cdk.json's context read by the app's
 * own `settingsFromContext`, `buildInstanceConfig` and `proxyUserData`, the functions the fleet
 * uses for its launch template, with the lifecycle and policy sections the stack adds (ARNs, ids,
 * names and region are tokens at synth, fixed strings here). The policy gets ORIGIN_HOST in its
 * allowlist and the guest's address in allowCidrs, since cdk.json's example names are out of the
 * guest's reach.
 */
export function renderUserData(): RenderedUserData {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const context = { ...cdkJson.context };
  const allow = [...(context[`${CONTEXT_PREFIX}allow`] as string[]), ORIGIN_HOST];
  const allowCidrs = [
    ...((context[`${CONTEXT_PREFIX}allowCidrs`] as string[] | undefined) ?? []),
    `${GUEST_ADDRESS}/32`,
  ];
  context[`${CONTEXT_PREFIX}allow`] = allow;
  context[`${CONTEXT_PREFIX}allowCidrs`] = allowCidrs;
  const app = new App({ context });
  const settings = settingsFromContext(app.node);
  const base = buildInstanceConfig(settings);
  // As the fleet does: the drain deadline from the drain bound, lifecycle on. The guest has no
  // metadata service, so the sidecar keeps retrying it in the background, which also shows
  // /healthcheck does not depend on it.
  const drain = drainTiming(settings.maxDrainSeconds, base.lifecycle.targetHealthPollMs / 1000);
  const fleetConfig = withFleetSettings(base, {
    timeouts: { drainMs: drain.proxyDrainSeconds * 1000 },
    lifecycle: { enabled: true, region: 'us-east-1', targetGroupArn: TEST_TARGET_GROUP_ARN },
  });
  const config = withPolicySource(fleetConfig, {
    file: POLICY_FILE_PATH,
    appConfig: {
      application: 'vmtest1',
      environment: 'vmtest2',
      profile: 'vmtest3',
      pollIntervalSeconds: 15,
    },
    bootParameter: 'egress-proxy-vm-test-boot-policy',
    bootWaitMs: 10_000,
    region: 'us-east-1',
  });
  const script = proxyUserData({ config, logGroupName: TEST_LOG_GROUP, metrics: TEST_METRICS }).render();
  return { script, drainMs: config.timeouts.drainMs, policy: policyDocument(settings) };
}
