/**
 * Gathers one row per instance of the fleet's Auto Scaling group from three read-only calls:
 * DescribeAutoScalingGroups (the group, its instances, lifecycle and ASG health),
 * DescribeTargetHealth (the load balancer's view) and DescribeInstances (image and launch time).
 * The clients are passed in, so the same code runs against AWS and against a local endpoint.
 */
import {
  paginateDescribeAutoScalingGroups,
  type AutoScalingClient,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { paginateDescribeInstances, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import {
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  type TargetHealthDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { FleetError, fromAwsError, type AwsAction } from './errors.js';
import { gatherPolicy, policyLocations, type DesiredPolicy, type PolicyClients } from './policy.js';
import { checkWorkloadSubnets, type WorkloadSubnet } from './workload-subnets.js';

export interface FleetClients extends PolicyClients {
  readonly autoScaling: AutoScalingClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ec2: EC2Client;
}

/** Which fleet to look at: a CloudFormation stack's group, or a group by name. */
export type FleetSelector =
  | { readonly stack: string; readonly targetGroupArn?: string }
  | { readonly asg: string; readonly targetGroupArn?: string };

export interface StatusOptions {
  /** The time uptimes are measured to. @default - now */
  readonly now?: Date;
  /**
   * Page size for the paginated calls; small values exist so tests can prove paging works.
   * @default - the service's maximum (100 groups; EC2 1000 instances per page)
   */
  readonly pageSize?: number;
  /**
   * How long an InService instance may run another policy version than AppConfig serves before it
   * counts as lagging: the poll interval plus the time its log line takes to reach CloudWatch Logs.
   * @default 90
   */
  readonly policyGraceSeconds?: number;
  /** Subnets the workloads run in, to check for routes that bypass the proxy. @default - none checked */
  readonly workloadSubnets?: readonly string[];
}

export interface InstanceRow {
  readonly instanceId: string;
  readonly availabilityZone: string;
  /** ASG lifecycle state: Pending, Pending:Wait, InService, Terminating:Wait, ... */
  readonly lifecycleState: string;
  /** ASG health: Healthy or Unhealthy. */
  readonly asgHealth: string;
  /** Target state (healthy, initial, unhealthy, draining, unused, ...), or `unregistered`. */
  readonly targetState: string;
  readonly targetReason: string | undefined;
  readonly targetDescription: string | undefined;
  readonly imageId: string | undefined;
  /** ISO 8601; EC2's LaunchTime, which restarts when a stopped instance is started again. */
  readonly launchTime: string | undefined;
  readonly uptimeSeconds: number | undefined;
  /** Counts towards the minimum: InService in the group and healthy in the target group. */
  readonly healthy: boolean;
  /** The policy version the instance reported in force; null if none yet, undefined without policy distribution. */
  readonly policyVersion: string | null | undefined;
  /** The instance runs another version than AppConfig serves, past the grace period. */
  readonly policyLagging: boolean;
}

export interface FleetStatus {
  readonly stackName: string | undefined;
  readonly groupName: string;
  readonly minSize: number;
  readonly desiredCapacity: number;
  readonly maxSize: number;
  readonly targetGroupArn: string;
  readonly instances: readonly InstanceRow[];
  readonly healthyCount: number;
  readonly belowMinimum: boolean;
  /** Things worth knowing that do not stop the command (e.g. a target group not attached to the group). */
  readonly warnings: readonly string[];
  /** The policy AppConfig serves and how many instances lag; null for a group without policy distribution. */
  readonly policy: { readonly desired: DesiredPolicy | null; readonly laggingCount: number } | null;
  /** The workload subnets checked (`--workload-subnets`), with any route out that bypasses the proxy. */
  readonly workloadSubnets: readonly WorkloadSubnet[];
}

/** The state shown for a group instance the target group does not list at all. */
export const UNREGISTERED = 'unregistered';

const CLOUDFORMATION_STACK_TAG = 'aws:cloudformation:stack-name';
/** EC2 accepts up to 200 values per filter; batches stay well below that. */
const INSTANCE_FILTER_BATCH = 100;

export async function gatherStatus(
  clients: FleetClients,
  selector: FleetSelector,
  options: StatusOptions = {},
): Promise<FleetStatus> {
  const now = options.now ?? new Date();
  const warnings: string[] = [];
  const group = await findGroup(clients.autoScaling, selector, options.pageSize);
  const groupName = group.AutoScalingGroupName ?? '(unnamed)';
  const targetGroupArn = chooseTargetGroup(group, groupName, selector.targetGroupArn, warnings);

  const members = (group.Instances ?? []).filter((i) => i.InstanceId);
  const ids = members.map((i) => i.InstanceId!);
  const [targets, ec2Instances] = await Promise.all([
    describeTargetHealth(clients.elbv2, targetGroupArn),
    describeInstances(clients.ec2, ids, options.pageSize),
  ]);

  const where = policyLocations(group);
  const policy = where
    ? await gatherPolicy(
        clients,
        where,
        members.map((member) => ({
          instanceId: member.InstanceId!,
          lifecycleState: member.LifecycleState ?? 'unknown',
          launchTime: ec2Instances.get(member.InstanceId!)?.LaunchTime,
        })),
        { now, graceSeconds: options.policyGraceSeconds ?? 90, call, warnings },
      )
    : undefined;

  const instances = members
    .map((member): InstanceRow => {
      const id = member.InstanceId!;
      const target = combineTargetHealth(targets.get(id));
      const ec2 = ec2Instances.get(id);
      const lifecycleState = member.LifecycleState ?? 'unknown';
      const launchTime = ec2?.LaunchTime;
      const reported = policy?.instances.get(id);
      return {
        instanceId: id,
        availabilityZone: member.AvailabilityZone ?? ec2?.Placement?.AvailabilityZone ?? 'unknown',
        lifecycleState,
        asgHealth: member.HealthStatus ?? 'unknown',
        targetState: target.state,
        targetReason: target.reason,
        targetDescription: target.description,
        imageId: ec2?.ImageId,
        launchTime: launchTime?.toISOString(),
        uptimeSeconds: launchTime
          ? Math.max(0, Math.floor((now.getTime() - launchTime.getTime()) / 1000))
          : undefined,
        healthy: lifecycleState === 'InService' && target.state === 'healthy',
        policyVersion: policy ? (reported?.version ?? null) : undefined,
        policyLagging: reported?.lagging ?? false,
      };
    })
    .sort(
      (a, b) =>
        a.availabilityZone.localeCompare(b.availabilityZone) || a.instanceId.localeCompare(b.instanceId),
    );

  const workloadSubnets = options.workloadSubnets?.length
    ? await checkWorkloadSubnets(clients.ec2, options.workloadSubnets, call)
    : [];
  for (const subnet of workloadSubnets) {
    if (subnet.routesOut.length > 0) {
      warnings.push(
        `workload subnet ${subnet.subnetId} routes ${subnet.routesOut.join(', ')} (route table ${subnet.routeTableId}): workloads there can bypass the proxy`,
      );
    }
  }

  const healthyCount = instances.filter((i) => i.healthy).length;
  const minSize = group.MinSize ?? 0;
  return {
    stackName: 'stack' in selector ? selector.stack : undefined,
    groupName,
    minSize,
    desiredCapacity: group.DesiredCapacity ?? 0,
    maxSize: group.MaxSize ?? 0,
    targetGroupArn,
    instances,
    healthyCount,
    belowMinimum: healthyCount < minSize,
    warnings,
    policy: policy ? { desired: policy.desired, laggingCount: policy.laggingCount } : null,
    workloadSubnets,
  };
}

async function findGroup(
  client: AutoScalingClient,
  selector: FleetSelector,
  pageSize: number | undefined,
): Promise<AutoScalingGroup> {
  const input =
    'stack' in selector
      ? { Filters: [{ Name: `tag:${CLOUDFORMATION_STACK_TAG}`, Values: [selector.stack] }] }
      : { AutoScalingGroupNames: [selector.asg] };
  const groups = await call('autoscaling:DescribeAutoScalingGroups', async () => {
    const found: AutoScalingGroup[] = [];
    // 100 is the API's maximum page; a stack normally has one group, but the filter API pages.
    for await (const page of paginateDescribeAutoScalingGroups(
      { client, pageSize: pageSize ?? 100 },
      input,
    )) {
      found.push(...(page.AutoScalingGroups ?? []));
    }
    return found;
  });

  if ('stack' in selector) {
    if (groups.length === 0) {
      throw new FleetError(
        'FLEET_GROUP_NOT_FOUND',
        `no Auto Scaling group is tagged ${CLOUDFORMATION_STACK_TAG}=${selector.stack}`,
        {
          call: 'autoscaling:DescribeAutoScalingGroups',
          hint: 'check the stack name and --region; or name the group with --asg',
        },
      );
    }
    if (groups.length > 1) {
      const names = groups.map((g) => g.AutoScalingGroupName).join(', ');
      throw new FleetError(
        'FLEET_AMBIGUOUS',
        `stack ${selector.stack} has ${groups.length} Auto Scaling groups: ${names}`,
        { hint: 'name one with --asg NAME instead of --stack' },
      );
    }
    return groups[0]!;
  }
  // Names match exactly, but a stray match of another name is not this group.
  const group = groups.find((g) => g.AutoScalingGroupName === selector.asg);
  if (!group) {
    throw new FleetError('FLEET_GROUP_NOT_FOUND', `Auto Scaling group ${selector.asg} not found`, {
      call: 'autoscaling:DescribeAutoScalingGroups',
      hint: 'check the group name and --region',
    });
  }
  return group;
}

function chooseTargetGroup(
  group: AutoScalingGroup,
  groupName: string,
  given: string | undefined,
  warnings: string[],
): string {
  const attached = group.TargetGroupARNs ?? [];
  if (given) {
    if (!attached.includes(given)) {
      // Still answered: the rows will show which instances the target group does not know.
      warnings.push(`target group ${given} is not attached to Auto Scaling group ${groupName}`);
    }
    return given;
  }
  if (attached.length === 0) {
    throw new FleetError(
      'FLEET_NO_TARGET_GROUP',
      `Auto Scaling group ${groupName} has no target group attached`,
      {
        hint: 'pass --target-group ARN',
      },
    );
  }
  if (attached.length > 1) {
    throw new FleetError(
      'FLEET_AMBIGUOUS',
      `Auto Scaling group ${groupName} has ${attached.length} target groups: ${attached.join(', ')}`,
      { hint: 'name one with --target-group ARN' },
    );
  }
  return attached[0]!;
}

/**
 * DescribeTargetHealth is not paginated: without `Targets` it returns every registered target of the
 * group in one answer. Asking for all (rather than for the group's instances) keeps instances that
 * were never registered distinguishable, and avoids a port in the request.
 */
async function describeTargetHealth(
  client: ElasticLoadBalancingV2Client,
  targetGroupArn: string,
): Promise<Map<string, TargetHealthDescription[]>> {
  const answer = await call('elasticloadbalancing:DescribeTargetHealth', () =>
    client.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn })),
  );
  const byId = new Map<string, TargetHealthDescription[]>();
  for (const d of answer.TargetHealthDescriptions ?? []) {
    const id = d.Target?.Id;
    if (!id) continue;
    byId.set(id, [...(byId.get(id) ?? []), d]);
  }
  return byId;
}

/** An instance registered on several ports is healthy only if every registration is. */
function combineTargetHealth(descriptions: TargetHealthDescription[] | undefined): {
  state: string;
  reason: string | undefined;
  description: string | undefined;
} {
  if (!descriptions || descriptions.length === 0) {
    return { state: UNREGISTERED, reason: undefined, description: 'not registered in the target group' };
  }
  const worst = descriptions.find((d) => d.TargetHealth?.State !== 'healthy') ?? descriptions[0]!;
  return {
    state: worst.TargetHealth?.State ?? 'unknown',
    reason: worst.TargetHealth?.Reason || undefined,
    description: worst.TargetHealth?.Description || undefined,
  };
}

/**
 * Filters by instance id instead of passing `InstanceIds`: an id that has just gone away then drops
 * out of the answer instead of failing the whole call (InvalidInstanceID.NotFound), and filtered
 * calls may be paged.
 */
async function describeInstances(
  client: EC2Client,
  ids: readonly string[],
  pageSize: number | undefined,
): Promise<Map<string, Instance>> {
  const byId = new Map<string, Instance>();
  for (let start = 0; start < ids.length; start += INSTANCE_FILTER_BATCH) {
    const batch = ids.slice(start, start + INSTANCE_FILTER_BATCH);
    await call('ec2:DescribeInstances', async () => {
      for await (const page of paginateDescribeInstances(
        { client, pageSize: pageSize ?? 1000 },
        { Filters: [{ Name: 'instance-id', Values: batch }] },
      )) {
        for (const reservation of page.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            if (instance.InstanceId) byId.set(instance.InstanceId, instance);
          }
        }
      }
    });
  }
  return byId;
}

/** Runs one AWS call (the SDK retries inside it) and names the call in whatever it throws. */
async function call<T>(action: AwsAction, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw fromAwsError(action, err);
  }
}
