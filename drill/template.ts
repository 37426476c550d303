/**
 * The fleet the drill imitates, read from the stack the CDK app synthesizes for cdk.json's
 * settings: health check, deregistration delay and connection termination of the target group,
 * the listener's idle timeout, the group's hooks, grace period, maintenance policy and refresh
 * warmup, and the instance config inside the launch template's user data. The drill takes its
 * parameters from here (scaled), not from constants of its own, so a change in lib/ that breaks
 * the drain's promise turns the drill red.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { EgressProxyStack } from '../lib/egress-proxy-stack.js';
import { DEFAULT_BUNDLE_DIRECTORY } from '../lib/proxy-image.js';
import { settingsFromContext } from '../lib/settings.js';
import type { EgressProxyConfig } from '../proxy-app/src/config/index.js';

export interface HookSpec {
  readonly name: string;
  readonly transition: 'launching' | 'terminating';
  readonly heartbeatTimeoutSeconds: number;
  readonly defaultResult: 'CONTINUE' | 'ABANDON';
}

/** What the drill imitates, in the template's own units. */
export interface FleetParameters {
  readonly healthCheck: {
    readonly intervalSeconds: number;
    readonly timeoutSeconds: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
    readonly path: string;
  };
  readonly deregistrationDelaySeconds: number;
  /** `deregistration_delay.connection_termination.enabled`. */
  readonly connectionTermination: boolean;
  /** The listener's `tcp.idle_timeout.seconds`. */
  readonly tcpIdleTimeoutSeconds: number;
  readonly gracePeriodSeconds: number;
  readonly maxHealthyPercentage: number;
  readonly instanceWarmupSeconds: number;
  readonly hooks: { readonly launching: HookSpec; readonly terminating: HookSpec };
  /** The instance config the launch template writes (target group ARN and region are placeholders). */
  readonly instanceConfig: EgressProxyConfig;
}

interface Resource {
  readonly Type: string;
  readonly Properties: Record<string, unknown>;
  readonly UpdatePolicy?: Record<string, Record<string, Record<string, unknown>>>;
}

const CDK_JSON = fileURLToPath(new URL('../cdk.json', import.meta.url));
/** Where the user data writes the config (lib/user-data.ts): between these heredoc lines. */
const CONFIG_START = "<<'EGRESS_PROXY_CONFIG'\n";
const CONFIG_END = '\nEGRESS_PROXY_CONFIG\n';

/** Synthesizes the app's stack in-process from cdk.json's context and reads the fleet from it. */
export function fleetFromTemplate(): FleetParameters {
  const { context } = JSON.parse(readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> };
  const app = new App({ context });
  const stack = new EgressProxyStack(app, 'EgressProxy', {
    settings: settingsFromContext(app.node),
    bundleDirectory: DEFAULT_BUNDLE_DIRECTORY,
  });
  const template = app.synth().getStackByName(stack.stackName).template as {
    Resources: Record<string, Resource>;
  };
  return readFleet(Object.values(template.Resources));
}

export function readFleet(resources: readonly Resource[]): FleetParameters {
  const one = (type: string): Resource => {
    const found = resources.filter((r) => r.Type === type);
    if (found.length !== 1) throw new Error(`template: expected one ${type}, found ${found.length}`);
    return found[0]!;
  };
  const group = one('AWS::AutoScaling::AutoScalingGroup');
  const targetGroup = one('AWS::ElasticLoadBalancingV2::TargetGroup').Properties;
  const attribute = (list: unknown, key: string): string => {
    const found = (list as { Key: string; Value: string }[] | undefined)?.find((a) => a.Key === key);
    if (!found) throw new Error(`template: no attribute ${key}`);
    return found.Value;
  };
  const hooks = (group.Properties.LifecycleHookSpecificationList as Record<string, unknown>[]).map(
    (hook): HookSpec => ({
      name: String(hook.LifecycleHookName),
      transition: String(hook.LifecycleTransition).endsWith('LAUNCHING') ? 'launching' : 'terminating',
      heartbeatTimeoutSeconds: Number(hook.HeartbeatTimeout),
      // The service default when the template leaves it out (aws-facts.md §2.2).
      defaultResult: (hook.DefaultResult as HookSpec['defaultResult'] | undefined) ?? 'ABANDON',
    }),
  );
  const hook = (transition: HookSpec['transition']): HookSpec => {
    const found = hooks.find((h) => h.transition === transition);
    if (!found) throw new Error(`template: no ${transition} lifecycle hook`);
    return found;
  };
  const maintenance = group.Properties.InstanceMaintenancePolicy as { MaxHealthyPercentage: number };
  const refresh = group.UpdatePolicy?.AutoScalingInstanceRefresh?.Preferences ?? {};
  return {
    healthCheck: {
      intervalSeconds: Number(targetGroup.HealthCheckIntervalSeconds),
      timeoutSeconds: Number(targetGroup.HealthCheckTimeoutSeconds),
      healthyThreshold: Number(targetGroup.HealthyThresholdCount),
      unhealthyThreshold: Number(targetGroup.UnhealthyThresholdCount),
      path: String(targetGroup.HealthCheckPath),
    },
    deregistrationDelaySeconds: Number(
      attribute(targetGroup.TargetGroupAttributes, 'deregistration_delay.timeout_seconds'),
    ),
    connectionTermination:
      attribute(targetGroup.TargetGroupAttributes, 'deregistration_delay.connection_termination.enabled') ===
      'true',
    tcpIdleTimeoutSeconds: Number(
      attribute(
        one('AWS::ElasticLoadBalancingV2::Listener').Properties.ListenerAttributes,
        'tcp.idle_timeout.seconds',
      ),
    ),
    gracePeriodSeconds: Number(group.Properties.HealthCheckGracePeriod ?? 0),
    maxHealthyPercentage: maintenance.MaxHealthyPercentage,
    instanceWarmupSeconds: Number(refresh.InstanceWarmup ?? group.Properties.DefaultInstanceWarmup ?? 0),
    hooks: { launching: hook('launching'), terminating: hook('terminating') },
    instanceConfig: userDataConfig(one('AWS::EC2::LaunchTemplate')),
  };
}

/** The config JSON the user data writes; deploy-time values (Ref, GetAtt) become placeholders. */
function userDataConfig(launchTemplate: Resource): EgressProxyConfig {
  const data = launchTemplate.Properties.LaunchTemplateData as {
    UserData: { 'Fn::Base64': { 'Fn::Join': [string, unknown[]] } };
  };
  const script = data.UserData['Fn::Base64']['Fn::Join'][1]
    .map((part) => (typeof part === 'string' ? part : 'deploy-time-value'))
    .join('');
  const start = script.indexOf(CONFIG_START);
  const end = script.indexOf(CONFIG_END, start);
  if (start < 0 || end < 0) throw new Error('template: the user data writes no config');
  return JSON.parse(script.slice(start + CONFIG_START.length, end)) as EgressProxyConfig;
}
