import { CfnOutput, Duration, Stack, Token, Validations, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { AlarmNotifications } from './alarm-actions.js';
import { EgressProxyFleet } from './egress-proxy-fleet.js';
import { EgressProxyValidationError } from './errors.js';
import { buildInstanceConfig, policyDocument, withPolicySource } from './instance-config.js';
import { createEgressVpc, warnImportedVpc } from './network.js';
import { PolicyDistribution } from './policy-distribution.js';
import { ProxyImage } from './proxy-image.js';
import type { EgressProxySettings } from './settings.js';

export interface EgressProxyStackProps extends StackProps {
  /** Validated settings (see `settingsFromContext`). */
  readonly settings: EgressProxySettings;
  /**
   * Folder with the built bundles.
   * @default - the bundles shipped in this package (proxy-app/dist)
   */
  readonly bundleDirectory?: string;
}

/**
 * The AWS APIs the instances call: lifecycle hooks and target health (the sidecar), logs (the
 * CloudWatch agent), Session Manager (SSM Agent).
 */
const INSTANCE_API_ENDPOINTS = {
  AutoScaling: ec2.InterfaceVpcEndpointAwsService.AUTOSCALING,
  LoadBalancing: ec2.InterfaceVpcEndpointAwsService.ELASTIC_LOAD_BALANCING,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  SsmMessages: ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
  Ec2Messages: ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
} as const;

/** Hosts a client never sends through the proxy: loopback, instance metadata, ECS task metadata. */
const NO_PROXY_BASE = ['localhost', '127.0.0.1', '169.254.169.254', '169.254.170.2'];

/**
 * The whole egress layer in one stack: the VPC (new, or imported with `vpcId`), the baked image
 * and the fleet. One stack on purpose: a cross-stack export of the image id could not change while
 * the fleet imports it.
 */
export class EgressProxyStack extends Stack {
  readonly vpc: ec2.IVpc;
  readonly image: ProxyImage;
  readonly fleet: EgressProxyFleet;
  readonly policy: PolicyDistribution;

  constructor(scope: Construct, id: string, props: EgressProxyStackProps) {
    super(scope, id, props);
    const { settings } = props;
    this.vpc = settings.vpcId ? this.importVpc(settings.vpcId) : this.createVpc(settings);
    if (settings.interfaceEndpoints) addInterfaceEndpoints(this, this.vpc);

    const instanceType = new ec2.InstanceType(settings.instanceType);
    const instanceArch = instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'x86_64';
    if (instanceArch !== settings.architecture) {
      throw new EgressProxyValidationError(
        'instanceType',
        `(${settings.instanceType}) is ${instanceArch} but architecture is ${settings.architecture}`,
        this,
      );
    }
    const policy = policyDocument(settings);
    this.policy = new PolicyDistribution(this, 'Policy', { policy });
    const config = withPolicySource(buildInstanceConfig(settings), this.policy.instanceSettings());

    this.image = new ProxyImage(this, 'Image', {
      vpc: this.vpc,
      architecture: settings.architecture,
      bundleDirectory: props.bundleDirectory,
      rebuildToken: settings.imageRefresh,
    });
    this.fleet = new EgressProxyFleet(this, 'Fleet', {
      vpc: this.vpc,
      machineImage: this.image.machineImage,
      instanceType,
      config,
      policy,
      clientCidrs: settings.clientCidrs,
      minCapacity: settings.minCapacity,
      maxCapacity: settings.maxCapacity,
      desiredCapacity: settings.desiredCapacity,
      targetCpuPercent: settings.targetCpuPercent,
      healthCheckInterval: Duration.seconds(settings.healthCheckIntervalSeconds),
      healthCheckTimeout: Duration.seconds(settings.healthCheckTimeoutSeconds),
      healthyThresholdCount: settings.healthyThresholdCount,
      unhealthyThresholdCount: settings.unhealthyThresholdCount,
      maxDrain: Duration.seconds(settings.maxDrainSeconds),
      healthCheckGracePeriod: Duration.seconds(settings.healthCheckGracePeriodSeconds),
      dashboard: settings.dashboard,
    });
    this.policy.bind({
      role: this.fleet.role,
      autoScalingGroup: this.fleet.autoScalingGroup,
      logGroup: this.fleet.logGroup,
      rollbackAlarm: this.fleet.deniedShareAlarm,
      dashboard: this.fleet.dashboard?.dashboard,
    });
    if (settings.alarmTopicArn !== undefined || settings.alarmEmail !== undefined) {
      new AlarmNotifications(this, 'AlarmNotifications', {
        topicArn: settings.alarmTopicArn,
        email: settings.alarmEmail,
      }).applyTo(this);
    }

    const url = this.fleet.proxyUrl;
    const noProxy = [...NO_PROXY_BASE, this.vpc.vpcCidrBlock].join(',');
    new CfnOutput(this, 'ProxyUrl', { value: url, description: 'Proxy address for VPC workloads' });
    new CfnOutput(this, 'HttpsProxyLine', {
      value: `HTTPS_PROXY=${url}`,
      description: 'Client environment line',
    });
    new CfnOutput(this, 'HttpProxyLine', {
      value: `HTTP_PROXY=${url}`,
      description: 'Client environment line',
    });
    new CfnOutput(this, 'NoProxyLine', {
      value: `NO_PROXY=${noProxy}`,
      description: 'Client environment line: local, metadata and in-VPC destinations bypass the proxy',
    });
    new CfnOutput(this, 'AutoScalingGroupName', { value: this.fleet.autoScalingGroup.autoScalingGroupName });
    new CfnOutput(this, 'TargetGroupArn', { value: this.fleet.targetGroup.targetGroupArn });
    const { timing } = this.fleet;
    new CfnOutput(this, 'DetectBrokenProxySeconds', {
      value: String(timing.detectionSeconds),
      description:
        'Health check interval x unhealthy threshold: a broken proxy stops getting new connections',
    });
    new CfnOutput(this, 'DrainBoundSeconds', {
      value: String(timing.deregistrationDelaySeconds),
      description: `The drain bound (deregistration delay): when an instance leaves, idle tunnels close after ${settings.drainIdleMs / 1000} s, busy ones get at least ${timing.proxyDrainSeconds} s, and the instance is released once it holds no connection, at the latest after this (docs/deploy.md)`,
    });
    new CfnOutput(this, 'ReplacementInServiceSeconds', {
      value: String(timing.replacementInServiceSeconds),
      description: 'Estimate from a broken proxy to its replacement passing health checks (docs/deploy.md)',
    });
  }

  private createVpc(settings: EgressProxySettings): ec2.IVpc {
    return createEgressVpc(this, 'Vpc', { cidr: settings.vpcCidr, natGateways: settings.natGateways });
  }

  private importVpc(vpcId: string): ec2.IVpc {
    if (Token.isUnresolved(this.account) || Token.isUnresolved(this.region)) {
      throw new EgressProxyValidationError(
        'vpcId',
        `(${vpcId}) needs a context lookup, which needs an explicit account and region: deploy with credentials (CDK_DEFAULT_ACCOUNT/CDK_DEFAULT_REGION) or leave vpcId unset for a new VPC`,
        this,
      );
    }
    warnImportedVpc(this, vpcId);
    return ec2.Vpc.fromLookup(this, 'Vpc', { vpcId });
  }
}

/**
 * Interface endpoints (private DNS on) in the private subnets, so the instances reach these APIs
 * without the NAT path. Each costs per hour and AZ, plus per GB (docs/deploy.md). In an imported
 * VPC that already has one of them, leave this off: two endpoints cannot both take its name.
 */
function addInterfaceEndpoints(scope: Construct, vpc: ec2.IVpc): void {
  const securityGroup = new ec2.SecurityGroup(scope, 'ApiEndpointsSecurityGroup', {
    vpc,
    description: 'Interface endpoints of the AWS APIs the egress proxy instances call: HTTPS from the VPC',
    allowAllOutbound: false,
  });
  securityGroup.addIngressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(443), 'HTTPS from the VPC');
  Validations.of(securityGroup).acknowledge({
    id: 'AwsSolutions::AwsSolutions-EC23',
    reason:
      'The rule cannot evaluate the VPC CIDR because it is a deploy-time reference; the ingress is HTTPS from the VPC only, never 0.0.0.0/0.',
  });
  for (const [id, service] of Object.entries(INSTANCE_API_ENDPOINTS)) {
    vpc.addInterfaceEndpoint(`${id}Endpoint`, {
      service,
      privateDnsEnabled: true,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [securityGroup],
      open: false,
    });
  }
}
