import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DEFAULTS, type LifecycleSettings } from '../proxy-app/src/config/index.js';

/** The sidecar gives up on readiness this long before the launching hook would time out. */
const LAUNCH_MARGIN = Duration.seconds(60);

export interface ProxyLifecycleHooksProps {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly targetGroup: elbv2.INetworkTargetGroup;
  /** The instances' role: it may complete actions on this group and deregister from this target group only. */
  readonly role: iam.IRole;
  /**
   * Heartbeat timeout of the launching hook (default result ABANDON). The sidecar abandons a
   * launch that is not ready one minute before this.
   * @default Duration.minutes(5)
   */
  readonly launchTimeout?: Duration;
  /**
   * Heartbeat timeout of the terminating hook (default result CONTINUE); must exceed the
   * deregistration delay and the sidecar's heartbeat interval.
   * @default Duration.minutes(2)
   */
  readonly terminateTimeout?: Duration;
}

/**
 * The group's launching and terminating lifecycle hooks and the instance permissions they need.
 * The hooks are declared in the group itself (`LifecycleHookSpecificationList`): hooks added with
 * `addLifecycleHook` are created after the group, so the first deploy's instances would skip them.
 */
export class ProxyLifecycleHooks extends Construct {
  static readonly LAUNCH_HOOK_NAME = DEFAULTS.lifecycle.launchHookName;
  static readonly TERMINATE_HOOK_NAME = DEFAULTS.lifecycle.terminateHookName;
  static readonly DEFAULT_LAUNCH_TIMEOUT = Duration.minutes(5);
  static readonly DEFAULT_TERMINATE_TIMEOUT = Duration.minutes(2);

  /**
   * The instance config's `lifecycle` section that matches these hooks. It is computed before
   * the group exists, because the group's launch template carries the config.
   */
  static instanceSettings(
    scope: Construct,
    targetGroup: elbv2.INetworkTargetGroup,
    launchTimeout = ProxyLifecycleHooks.DEFAULT_LAUNCH_TIMEOUT,
  ): Partial<LifecycleSettings> {
    return {
      enabled: true,
      region: Stack.of(scope).region,
      targetGroupArn: targetGroup.targetGroupArn,
      launchHookName: ProxyLifecycleHooks.LAUNCH_HOOK_NAME,
      terminateHookName: ProxyLifecycleHooks.TERMINATE_HOOK_NAME,
      launchTimeoutMs: launchTimeout.minus(LAUNCH_MARGIN).toMilliseconds(),
    };
  }

  constructor(scope: Construct, id: string, props: ProxyLifecycleHooksProps) {
    super(scope, id);
    const launchTimeout = props.launchTimeout ?? ProxyLifecycleHooks.DEFAULT_LAUNCH_TIMEOUT;
    const terminateTimeout = props.terminateTimeout ?? ProxyLifecycleHooks.DEFAULT_TERMINATE_TIMEOUT;
    const group = props.autoScalingGroup.node.defaultChild as autoscaling.CfnAutoScalingGroup;
    group.lifecycleHookSpecificationList = [
      {
        lifecycleHookName: ProxyLifecycleHooks.LAUNCH_HOOK_NAME,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        heartbeatTimeout: launchTimeout.toSeconds(),
        // A broken image fails fast instead of joining the fleet.
        defaultResult: 'ABANDON',
      },
      {
        lifecycleHookName: ProxyLifecycleHooks.TERMINATE_HOOK_NAME,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        heartbeatTimeout: terminateTimeout.toSeconds(),
        // Termination goes ahead even if the sidecar never answers.
        defaultResult: 'CONTINUE',
      },
    ];
    // A separate policy: the group's ARN in the role's default policy would be a dependency cycle
    // (policy -> group -> launch template -> role -> default policy).
    const policy = new iam.Policy(this, 'InstancePolicy', {
      roles: [props.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'OwnGroupLifecycleActions',
          actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
          resources: [props.autoScalingGroup.autoScalingGroupArn],
        }),
        new iam.PolicyStatement({
          sid: 'OwnTargetGroupDeregistration',
          actions: ['elasticloadbalancing:DeregisterTargets'],
          resources: [props.targetGroup.targetGroupArn],
        }),
      ],
    });
    Validations.of(policy).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::${groupArnFinding(props.autoScalingGroup)}]`,
      reason:
        "The '*' is the group ARN's UUID, which CloudFormation does not expose (Ref gives the name); the resource is still this group only, by name.",
    });
  }
}

/** How cdk-nag prints the group's ARN: intrinsics as <Logical::Id>, the UUID as '*'. */
function groupArnFinding(group: autoscaling.AutoScalingGroup): string {
  const logicalId = Stack.of(group).getLogicalId(group.node.defaultChild as autoscaling.CfnAutoScalingGroup);
  return `arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:autoScalingGroupName/<${logicalId}>`;
}
