import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AUTO_SCALING_XMLNS,
  describeTargetHealth,
  noActiveLifecycleAction,
  queryError,
  querySuccess,
} from '../../../../drill/servers/aws-query.js';
import { DEFAULTS } from '../../../../proxy-app/src/config/schema.js';
import { AwsLifecycleActions } from '../../../../proxy-app/src/sidecar/lifecycle/actions.js';
import { silentLogger, VirtualClock } from './fakes.js';
import { startScriptedAws, type ScriptedAws } from './stand-ins.js';

const INSTANCE_ID = 'i-0123456789abcdef0';
const GROUP = 'egress-asg';
const TARGET_GROUP_ARN = 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg/abc';
const AUTO_SCALING_VERSION = '2011-01-01';
const ELB_VERSION = '2015-12-01';

const accessDenied = queryError('AccessDenied', 'not authorized to perform this action', 403);
const throttling = queryError('Throttling', 'Rate exceeded');

const stopping: ScriptedAws[] = [];
afterEach(async () => {
  await Promise.all(stopping.splice(0).map((aws) => aws.close()));
});

async function setup() {
  const aws = await startScriptedAws();
  stopping.push(aws);
  // As start.ts builds the clients (the SDK's own 3 attempts included), pointed at the stand-in.
  const clientOptions = {
    region: 'eu-west-1',
    maxAttempts: 3,
    endpoint: aws.url,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  const clock = new VirtualClock();
  const actions = new AwsLifecycleActions({
    autoScaling: new AutoScalingClient(clientOptions),
    loadBalancing: new ElasticLoadBalancingV2Client(clientOptions),
    instanceId: INSTANCE_ID,
    groupName: GROUP,
    targetPort: 3128,
    settings: { ...DEFAULTS.lifecycle, enabled: true, targetGroupArn: TARGET_GROUP_ARN },
    clock,
    logger: silentLogger,
  });
  return { actions, aws, clock };
}

const thisTarget = {
  Version: ELB_VERSION,
  TargetGroupArn: TARGET_GROUP_ARN,
  'Targets.member.1.Id': INSTANCE_ID,
  'Targets.member.1.Port': '3128',
};

describe('AwsLifecycleActions', () => {
  it('completes the named hook for this instance and group', async () => {
    const { actions, aws } = await setup();
    aws.script('CompleteLifecycleAction', querySuccess('CompleteLifecycleAction', AUTO_SCALING_XMLNS));
    expect(await actions.complete('launch', 'CONTINUE')).toBe('completed');
    expect(await actions.complete('terminate', 'ABANDON')).toBe('completed');
    expect(aws.calls).toEqual([
      {
        action: 'CompleteLifecycleAction',
        params: {
          Version: AUTO_SCALING_VERSION,
          AutoScalingGroupName: GROUP,
          LifecycleHookName: 'egress-proxy-launching',
          InstanceId: INSTANCE_ID,
          LifecycleActionResult: 'CONTINUE',
        },
      },
      {
        action: 'CompleteLifecycleAction',
        params: {
          Version: AUTO_SCALING_VERSION,
          AutoScalingGroupName: GROUP,
          LifecycleHookName: 'egress-proxy-terminating',
          InstanceId: INSTANCE_ID,
          LifecycleActionResult: 'ABANDON',
        },
      },
    ]);
  });

  it('retries AccessDenied and throttling with growing delays until it succeeds', async () => {
    const { actions, aws, clock } = await setup();
    // The SDK retries throttling itself (3 attempts); throttling that outlasts them reaches this retry.
    aws.script(
      'CompleteLifecycleAction',
      accessDenied,
      throttling,
      throttling,
      throttling,
      querySuccess('CompleteLifecycleAction', AUTO_SCALING_XMLNS),
    );
    expect(await actions.complete('launch', 'CONTINUE')).toBe('completed');
    expect(aws.paramsOf('CompleteLifecycleAction')).toHaveLength(1 + 3 + 1);
    expect(clock.now()).toBe(1_000 + 2_000);
  });

  it('reports "no active lifecycle action" as such, without retrying', async () => {
    const { actions, aws } = await setup();
    aws.script('CompleteLifecycleAction', noActiveLifecycleAction(INSTANCE_ID));
    aws.script('RecordLifecycleActionHeartbeat', noActiveLifecycleAction(INSTANCE_ID));
    expect(await actions.complete('terminate', 'CONTINUE')).toBe('no-active-action');
    expect(aws.paramsOf('CompleteLifecycleAction')).toHaveLength(1);
    expect(await actions.heartbeat()).toBe(false);
    expect(aws.paramsOf('RecordLifecycleActionHeartbeat')).toEqual([
      {
        Version: AUTO_SCALING_VERSION,
        AutoScalingGroupName: GROUP,
        LifecycleHookName: 'egress-proxy-terminating',
        InstanceId: INSTANCE_ID,
      },
    ]);
  });

  it.each([
    [{ state: 'healthy' }, 'registered'],
    [{ state: 'initial', reason: 'Elb.RegistrationInProgress' }, 'registered'],
    [{ state: 'unhealthy', reason: 'Target.FailedHealthChecks' }, 'registered'],
    [{ state: 'draining', reason: 'Target.DeregistrationInProgress' }, 'deregistering'],
    [{ state: 'unused', reason: 'Target.NotRegistered' }, 'not-registered'],
    [{ state: 'unused', reason: 'Target.NotInUse' }, 'registered'],
  ] as const)(
    'reads target health %j as %s, for this instance on the proxy port',
    async (health, expected) => {
      const { actions, aws } = await setup();
      aws.script('DescribeTargetHealth', describeTargetHealth([{ id: INSTANCE_ID, port: 3128, ...health }]));
      expect(await actions.targetState()).toBe(expected);
      expect(aws.paramsOf('DescribeTargetHealth')).toEqual([thisTarget]);
    },
  );

  it('reads an unknown target (InvalidTarget) as not registered, and lets other errors through', async () => {
    const { actions, aws } = await setup();
    aws.script(
      'DescribeTargetHealth',
      queryError('InvalidTarget', 'The specified target does not exist'),
      queryError('AccessDenied', 'not authorized', 403),
    );
    expect(await actions.targetState()).toBe('not-registered');
    await expect(actions.targetState()).rejects.toThrow('not authorized');
  });

  it('gives up after its attempts and reports the last error', async () => {
    const { actions, aws, clock } = await setup();
    aws.script('DeregisterTargets', accessDenied);
    await expect(actions.deregister()).rejects.toThrow('not authorized');
    expect(aws.paramsOf('DeregisterTargets')).toEqual([thisTarget, thisTarget, thisTarget]);
    expect(clock.now()).toBe(1_000 + 2_000);
  });

  it('keeps trying a hook completion for about three minutes (a new policy may still propagate)', async () => {
    const { actions, aws, clock } = await setup();
    aws.script('CompleteLifecycleAction', accessDenied);
    await expect(actions.complete('launch', 'CONTINUE')).rejects.toThrow('not authorized');
    expect(aws.paramsOf('CompleteLifecycleAction')).toHaveLength(9);
    expect(clock.now()).toBe(1_000 + 2_000 + 4_000 + 8_000 + 16_000 + 30_000 * 3);
  });
});
