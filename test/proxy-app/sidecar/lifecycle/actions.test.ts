import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  InvalidTargetException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../../proxy-app/src/config/schema.js';
import { AwsLifecycleActions } from '../../../../proxy-app/src/sidecar/lifecycle/actions.js';
import { silentLogger, VirtualClock } from './fakes.js';

/** AWS-shaped errors, as the SDK raises them from service responses. */
function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: {} });
}

function setup() {
  const autoScaling = new AutoScalingClient({ region: 'eu-west-1' });
  const loadBalancing = new ElasticLoadBalancingV2Client({ region: 'eu-west-1' });
  const asMock = mockClient(autoScaling);
  const elbMock = mockClient(loadBalancing);
  const clock = new VirtualClock();
  const actions = new AwsLifecycleActions({
    autoScaling,
    loadBalancing,
    instanceId: 'i-0123456789abcdef0',
    groupName: 'egress-asg',
    targetPort: 3128,
    settings: {
      ...DEFAULTS.lifecycle,
      enabled: true,
      targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg/abc',
    },
    clock,
    logger: silentLogger,
  });
  return { actions, asMock, elbMock, clock };
}

describe('AwsLifecycleActions', () => {
  it('completes the named hook for this instance and group', async () => {
    const { actions, asMock } = setup();
    asMock.on(CompleteLifecycleActionCommand).resolves({});
    expect(await actions.complete('launch', 'CONTINUE')).toBe('completed');
    expect(await actions.complete('terminate', 'ABANDON')).toBe('completed');
    expect(asMock.commandCalls(CompleteLifecycleActionCommand).map((call) => call.args[0].input)).toEqual([
      {
        AutoScalingGroupName: 'egress-asg',
        LifecycleHookName: 'egress-proxy-launching',
        InstanceId: 'i-0123456789abcdef0',
        LifecycleActionResult: 'CONTINUE',
      },
      {
        AutoScalingGroupName: 'egress-asg',
        LifecycleHookName: 'egress-proxy-terminating',
        InstanceId: 'i-0123456789abcdef0',
        LifecycleActionResult: 'ABANDON',
      },
    ]);
  });

  it('retries AccessDenied and throttling with growing delays until it succeeds', async () => {
    const { actions, asMock, clock } = setup();
    asMock
      .on(CompleteLifecycleActionCommand)
      .rejectsOnce(awsError('AccessDenied', 'not authorized to perform autoscaling:CompleteLifecycleAction'))
      .rejectsOnce(awsError('Throttling', 'Rate exceeded'))
      .resolves({});
    expect(await actions.complete('launch', 'CONTINUE')).toBe('completed');
    expect(asMock.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(3);
    expect(clock.now()).toBe(1_000 + 2_000);
  });

  it('reports "no active lifecycle action" as such, without retrying', async () => {
    const { actions, asMock } = setup();
    const noAction = awsError(
      'ValidationError',
      'No active Lifecycle Action found with instance ID i-0123456789abcdef0',
    );
    asMock.on(CompleteLifecycleActionCommand).rejects(noAction);
    asMock.on(RecordLifecycleActionHeartbeatCommand).rejects(noAction);
    expect(await actions.complete('terminate', 'CONTINUE')).toBe('no-active-action');
    expect(asMock.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(1);
    expect(await actions.heartbeat()).toBe(false);
    expect(asMock.commandCalls(RecordLifecycleActionHeartbeatCommand)).toHaveLength(1);
  });

  it.each([
    [{ State: 'healthy' }, 'registered'],
    [{ State: 'initial', Reason: 'Elb.RegistrationInProgress' }, 'registered'],
    [{ State: 'unhealthy', Reason: 'Target.FailedHealthChecks' }, 'registered'],
    [{ State: 'draining', Reason: 'Target.DeregistrationInProgress' }, 'deregistering'],
    [{ State: 'unused', Reason: 'Target.NotRegistered' }, 'not-registered'],
    [{ State: 'unused', Reason: 'Target.NotInUse' }, 'registered'],
  ] as const)(
    'reads target health %j as %s, for this instance on the proxy port',
    async (health, expected) => {
      const { actions, elbMock } = setup();
      elbMock.on(DescribeTargetHealthCommand).resolves({
        TargetHealthDescriptions: [
          { Target: { Id: 'i-0123456789abcdef0', Port: 3128 }, TargetHealth: health },
        ],
      });
      expect(await actions.targetState()).toBe(expected);
      expect(elbMock.commandCalls(DescribeTargetHealthCommand)[0]!.args[0].input).toEqual({
        TargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg/abc',
        Targets: [{ Id: 'i-0123456789abcdef0', Port: 3128 }],
      });
    },
  );

  it('reads an unknown target (InvalidTarget) as not registered, and lets other errors through', async () => {
    const { actions, elbMock } = setup();
    elbMock
      .on(DescribeTargetHealthCommand)
      .rejectsOnce(
        new InvalidTargetException({ message: 'The specified target does not exist', $metadata: {} }),
      )
      .rejectsOnce(awsError('AccessDenied', 'not authorized'));
    expect(await actions.targetState()).toBe('not-registered');
    await expect(actions.targetState()).rejects.toThrow('not authorized');
  });

  it('gives up after its attempts and reports the last error', async () => {
    const { actions, elbMock, clock } = setup();
    elbMock.on(DeregisterTargetsCommand).rejects(awsError('AccessDenied', 'not authorized'));
    await expect(actions.deregister()).rejects.toThrow('not authorized');
    expect(elbMock.commandCalls(DeregisterTargetsCommand)).toHaveLength(3);
    expect(elbMock.commandCalls(DeregisterTargetsCommand)[0]!.args[0].input).toEqual({
      TargetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/tg/abc',
      Targets: [{ Id: 'i-0123456789abcdef0', Port: 3128 }],
    });
    expect(clock.now()).toBe(1_000 + 2_000);
  });

  it('keeps trying a hook completion for about three minutes (a new policy may still propagate)', async () => {
    const { actions, asMock, clock } = setup();
    asMock.on(CompleteLifecycleActionCommand).rejects(awsError('AccessDenied', 'not authorized'));
    await expect(actions.complete('launch', 'CONTINUE')).rejects.toThrow('not authorized');
    expect(asMock.commandCalls(CompleteLifecycleActionCommand)).toHaveLength(9);
    expect(clock.now()).toBe(1_000 + 2_000 + 4_000 + 8_000 + 16_000 + 30_000 * 3);
  });
});
