import { CfnOutput, Duration, Stack, Token, type StackProps } from 'aws-cdk-lib';
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

    const instanceType = new ec2.InstanceType(settings.instanceType);
    const instanceArch = instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'x86_64';
    if (instanceArch !== settings.architecture) {
      throw new EgressProxyValidationError(
        'instanceType',
        `(${settings.instanceType}) is ${instanceArch} but architecture is ${settings.architecture}`,
        this,
      );
    }
    this.policy = new PolicyDistribution(this, 'Policy', { policy: policyDocument(settings) });
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
      clientCidrs: settings.clientCidrs,
      minCapacity: settings.minCapacity,
      maxCapacity: settings.maxCapacity,
      desiredCapacity: settings.desiredCapacity,
      targetCpuPercent: settings.targetCpuPercent,
      healthCheckInterval: Duration.seconds(settings.healthCheckIntervalSeconds),
      healthCheckTimeout: Duration.seconds(settings.healthCheckTimeoutSeconds),
      healthyThresholdCount: settings.healthyThresholdCount,
      unhealthyThresholdCount: settings.unhealthyThresholdCount,
      deregistrationDelay: Duration.seconds(settings.deregistrationDelaySeconds),
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
    new CfnOutput(this, 'DetectBrokenProxySeconds', {
      value: String(this.fleet.timing.detectionSeconds),
      description:
        'Health check interval x unhealthy threshold: a broken proxy stops getting new connections',
    });
    new CfnOutput(this, 'ReplacementInServiceSeconds', {
      value: String(this.fleet.timing.replacementInServiceSeconds),
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
