import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { DEFAULTS, type LifecycleSettings } from '../proxy-app/src/config/index.js';

/** The sidecar gives up on readiness this long before the launching hook would time out. */
const LAUNCH_MARGIN = Duration.seconds(60);

export interface ProxyLifecycleHooksProps {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  /**
   * The group's name, fixed at synth (`autoScalingGroupName`): the instances' permissions name the
   * group's ARN without a reference to the group, so they exist before its first instance boots.
   */
  readonly groupName: string;
  readonly targetGroup: elbv2.INetworkTargetGroup;
  /** The instances' role: it may complete actions on this group and deregister from this target group only. */
  readonly role: iam.IRole;
  /**
   * Heartbeat timeout of the launching hook (default result ABANDON). The sidecar abandons a
   * launch that is not ready one minute before this.
   * @default Duration.minutes(5)
   */
  readonly launchTimeout?: Duration;
  /** Heartbeat timeout of the terminating hook (default result CONTINUE); see `timing.ts`. */
  readonly terminateTimeout: Duration;
}

/**
 * The group's launching and terminating lifecycle hooks and the instance permissions they need.
 * The hooks are declared in the group itself (`LifecycleHookSpecificationList`): hooks added with
 * `addLifecycleHook` are created after the group, so the first deploy's instances would skip them
 * (aws-facts.md §2.4). The permissions are a policy the group depends on (§9): CloudFormation
 * creates it before the group, so the first instances can complete their launching hook.
 */
export class ProxyLifecycleHooks extends Construct {
  static readonly LAUNCH_HOOK_NAME = DEFAULTS.lifecycle.launchHookName;
  static readonly TERMINATE_HOOK_NAME = DEFAULTS.lifecycle.terminateHookName;
  static readonly DEFAULT_LAUNCH_TIMEOUT = Duration.minutes(5);

  /** The instance permissions, created before the group. */
  readonly policy: iam.Policy;

  /**
   * The instance config's `lifecycle` section that matches these hooks. It is computed before
   * the group exists, because the group's launch template carries the config.
   */
  static instanceSettings(
    scope: Construct,
    targetGroup: elbv2.INetworkTargetGroup,
    terminateTimeout: Duration,
    launchTimeout = ProxyLifecycleHooks.DEFAULT_LAUNCH_TIMEOUT,
  ): Partial<LifecycleSettings> {
    return {
      enabled: true,
      region: Stack.of(scope).region,
      targetGroupArn: targetGroup.targetGroupArn,
      launchHookName: ProxyLifecycleHooks.LAUNCH_HOOK_NAME,
      terminateHookName: ProxyLifecycleHooks.TERMINATE_HOOK_NAME,
      launchTimeoutMs: launchTimeout.minus(LAUNCH_MARGIN).toMilliseconds(),
      // Once drained, the hook comes at the latest when the deregistration delay ends; the hook's
      // own timeout bounds that wait as well as any.
      terminateWaitMs: terminateTimeout.toMilliseconds(),
    };
  }

  constructor(scope: Construct, id: string, props: ProxyLifecycleHooksProps) {
    super(scope, id);
    const launchTimeout = props.launchTimeout ?? ProxyLifecycleHooks.DEFAULT_LAUNCH_TIMEOUT;
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
        heartbeatTimeout: props.terminateTimeout.toSeconds(),
        // Termination goes ahead even if the sidecar never answers.
        defaultResult: 'CONTINUE',
      },
    ];
    const groupArn = groupArnFor(this, props.groupName);
    this.policy = new iam.Policy(this, 'InstancePolicy', {
      roles: [props.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'OwnGroupLifecycleActions',
          actions: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
          resources: [groupArn],
        }),
        new iam.PolicyStatement({
          sid: 'OwnTargetGroupDeregistration',
          actions: ['elasticloadbalancing:DeregisterTargets'],
          resources: [props.targetGroup.targetGroupArn],
        }),
        new iam.PolicyStatement({
          sid: 'TargetHealthReads',
          actions: ['elasticloadbalancing:DescribeTargetHealth'],
          resources: ['*'],
        }),
      ],
    });
    props.autoScalingGroup.node.addDependency(this.policy);
    Validations.of(this.policy).acknowledge(
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::${nagArn(this, groupArn)}]`,
        reason:
          "The '*' is the group ARN's UUID, which is not known before the group exists; the resource is still this group only, by its name fixed at synth.",
      },
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'elasticloadbalancing:DescribeTargetHealth supports no resource-level permissions (Service Authorization Reference, Elastic Load Balancing V2: no resource type for the action; iann0036/iam-dataset aws/iam_definition.json). It is a read: the sidecar reads its own target to learn that deregistration began.',
      },
    );
  }
}

/** `arn:<partition>:autoscaling:<region>:<account>:autoScalingGroup:*:autoScalingGroupName/<name>` (§9). */
function groupArnFor(scope: Construct, groupName: string): string {
  return Stack.of(scope).formatArn({
    service: 'autoscaling',
    resource: 'autoScalingGroup',
    resourceName: `*:autoScalingGroupName/${groupName}`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/** How cdk-nag prints an ARN in a finding: intrinsics as <Logical::Id> or <AWS::Pseudo>. */
function nagArn(scope: Construct, arn: string): string {
  const resolved = Stack.of(scope).resolve(arn) as { 'Fn::Join': [string, unknown[]] };
  return resolved['Fn::Join'][1]
    .map((part) => (typeof part === 'string' ? part : `<${(part as { Ref: string }).Ref}>`))
    .join('');
}
