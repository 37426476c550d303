/**
 * Runs moto's server (a local AWS API) as a child process on a loopback port, and builds in it the
 * shape of the deployed fleet: a VPC with subnets in two AZs, a launch template, a target group and
 * an Auto Scaling group attached to it, tagged like a CloudFormation stack's group.
 */
import { AppConfigClient } from '@aws-sdk/client-appconfig';
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';

export const REGION = 'us-east-1';
/** moto accepts any credentials; these keep the SDK from looking for real ones. */
export const FAKE_CREDENTIALS = { accessKeyId: 'AKIDFLEETTEST', secretAccessKey: 'fleet-test-secret' };

export interface TestClients {
  readonly autoScaling: AutoScalingClient;
  readonly elbv2: ElasticLoadBalancingV2Client;
  readonly ec2: EC2Client;
  readonly logs: CloudWatchLogsClient;
  readonly appConfig: AppConfigClient;
  destroy(): void;
}

/** Clients on moto's server; AppConfig on `appConfigEndpoint` (a stand-in: moto has no deployments). */
export function clients(endpoint: string, appConfigEndpoint = endpoint): TestClients {
  const config = { region: REGION, endpoint, credentials: FAKE_CREDENTIALS, maxAttempts: 1 };
  const c = {
    autoScaling: new AutoScalingClient(config),
    elbv2: new ElasticLoadBalancingV2Client(config),
    ec2: new EC2Client(config),
    logs: new CloudWatchLogsClient(config),
    appConfig: new AppConfigClient({ ...config, endpoint: appConfigEndpoint }),
  };
  return {
    ...c,
    destroy() {
      for (const client of Object.values(c)) client.destroy();
    },
  };
}

export interface Fleet {
  readonly stackName: string;
  readonly groupName: string;
  readonly targetGroupArn: string;
  readonly imageId: string;
  readonly instanceIds: readonly string[];
  readonly subnetAzs: readonly string[];
}

/** moto's default AMI catalogue includes this Amazon Linux id. */
export const IMAGE_ID = 'ami-12c6146b';

export async function createFleet(
  c: TestClients,
  name: string,
  size: { min: number; desired: number; max: number },
  stackName = `${name}-stack`,
  /** More group tags, e.g. the stack's policy locations. */
  tags: readonly { Key: string; Value: string }[] = [],
): Promise<Fleet> {
  const vpc = await c.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const vpcId = vpc.Vpc!.VpcId!;
  const subnetAzs = [`${REGION}a`, `${REGION}b`];
  const subnetIds: string[] = [];
  for (const [i, az] of subnetAzs.entries()) {
    const subnet = await c.ec2.send(
      new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: `10.0.${i}.0/24`, AvailabilityZone: az }),
    );
    subnetIds.push(subnet.Subnet!.SubnetId!);
  }
  await c.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${name}-lt`,
      LaunchTemplateData: { ImageId: IMAGE_ID, InstanceType: 't4g.small' },
    }),
  );
  const tg = await c.elbv2.send(
    new CreateTargetGroupCommand({
      Name: `${name}-tg`,
      Protocol: 'TCP',
      Port: 3128,
      VpcId: vpcId,
      TargetType: 'instance',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: '8081',
      HealthCheckPath: '/healthcheck',
    }),
  );
  const targetGroupArn = tg.TargetGroups![0]!.TargetGroupArn!;
  const groupName = `${name}-asg`;
  await c.autoScaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: groupName,
      LaunchTemplate: { LaunchTemplateName: `${name}-lt`, Version: '$Latest' },
      MinSize: size.min,
      DesiredCapacity: size.desired,
      MaxSize: size.max,
      VPCZoneIdentifier: subnetIds.join(','),
      TargetGroupARNs: [targetGroupArn],
      HealthCheckType: 'ELB',
      // CloudFormation puts this tag on the groups it creates; the command finds the group by it.
      Tags: [
        { Key: 'aws:cloudformation:stack-name', Value: stackName, PropagateAtLaunch: true },
        ...tags.map((tag) => ({ ...tag, PropagateAtLaunch: false })),
      ],
    }),
  );
  const described = await c.autoScaling.send(
    new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }),
  );
  const instanceIds = (described.AutoScalingGroups![0]!.Instances ?? []).map((i) => i.InstanceId!);
  return { stackName, groupName, targetGroupArn, imageId: IMAGE_ID, instanceIds, subnetAzs };
}

/**
 * Calls moto's IAM API directly (the project has no IAM client, and needs none outside tests). It is
 * only used before IAM enforcement is switched on, so the signature is not checked; the credential
 * scope in the header is what routes the request to IAM.
 */
export async function iamCall(endpoint: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${FAKE_CREDENTIALS.accessKeyId}/20260101/${REGION}/iam/aws4_request, SignedHeaders=host, Signature=00`,
    },
    body: new URLSearchParams({ Version: '2010-05-08', ...params }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`IAM ${params['Action']} failed: ${text}`);
  return text;
}

/** Creates an IAM user with one inline policy and returns its access key. */
export async function createUser(
  endpoint: string,
  name: string,
  policy: unknown,
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  await iamCall(endpoint, { Action: 'CreateUser', UserName: name });
  await iamCall(endpoint, {
    Action: 'PutUserPolicy',
    UserName: name,
    PolicyName: 'fleet-status',
    PolicyDocument: JSON.stringify(policy),
  });
  const key = await iamCall(endpoint, { Action: 'CreateAccessKey', UserName: name });
  return {
    accessKeyId: /<AccessKeyId>([^<]+)</.exec(key)![1]!,
    secretAccessKey: /<SecretAccessKey>([^<]+)</.exec(key)![1]!,
  };
}

/** From now on moto checks every request's signature and IAM policy, like AWS. */
export async function enforceIam(endpoint: string): Promise<void> {
  const res = await fetch(`${endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  if (!res.ok) throw new Error(`moto reset-auth failed: ${await res.text()}`);
}
