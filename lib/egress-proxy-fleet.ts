import { Aws, Duration, Names, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { EgressProxyConfig, PolicyDocument } from '../proxy-app/src/config/index.js';
import { AccessLogAlarms } from './access-log-alarms.js';
import { EgressProxyDashboard } from './dashboard.js';
import { EgressProxyValidationError } from './errors.js';
import { portRanges, reachablePorts } from './egress-ports.js';
import { FleetMetrics } from './fleet-metrics.js';
import { admitWorkload, type AdmitOptions } from './network.js';
import { drainTiming, validateTimingChain, type Timing } from './timing.js';
import { withFleetSettings } from './instance-config.js';
import { ProxyLifecycleHooks } from './lifecycle-hooks.js';
import { proxyUserData } from './user-data.js';

/** The sidecar's endpoint for the load balancer's health check. */
export const HEALTH_CHECK_PATH = '/healthcheck';

/** NLB listener idle timeout default; the proxy's own idle timeout must end tunnels before it. */
const NLB_DEFAULT_TCP_IDLE_SECONDS = 350;
/** A security group holds 60 rules per direction by default; DNS and AWS APIs take three. */
const MAX_DESTINATION_PORT_RANGES = 50;

export interface EgressProxyFleetProps {
  readonly vpc: ec2.IVpc;
  /**
   * Subnets of the load balancer and the instances; they must span at least two AZs and have
   * egress to the internet (NAT).
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** The image with the proxy baked in (see `ProxyImage`). */
  readonly machineImage: ec2.IMachineImage;
  /**
   * Instance type; its architecture must match the image.
   * @default - t4g.small (Graviton)
   */
  readonly instanceType?: ec2.InstanceType;
  /** The instance config, as returned by proxy-app's `parseConfig` (see `buildInstanceConfig`). */
  readonly config: EgressProxyConfig;
  /**
   * The policy the instances run when it is deployed apart from the config (`PolicyDistribution`;
   * the config's own allowlist is then empty). The security group lets out exactly the ports it
   * can reach, so a policy deployed later that needs another port needs this updated too.
   * @default - the config's own `allow`, `allowPorts` and `allowCidrs`
   */
  readonly policy?: PolicyDocument;
  /**
   * Client ranges the load balancer admits on the proxy port.
   * @default - the VPC's CIDR
   */
  readonly clientCidrs?: string[];
  /** @default 2 */
  readonly minCapacity?: number;
  /** @default 4 */
  readonly maxCapacity?: number;
  /**
   * @default - not set: each deploy leaves the current desired capacity to the scaling policy
   */
  readonly desiredCapacity?: number;
  /**
   * Average CPU utilisation the target-tracking policy keeps the group at.
   * @default 60
   */
  readonly targetCpuPercent?: number;
  /** @default Duration.seconds(10) */
  readonly healthCheckInterval?: Duration;
  /**
   * Must exceed the sidecar's probe timeout (config `probe.timeoutMs`) and stay below the interval.
   * @default Duration.seconds(5)
   */
  readonly healthCheckTimeout?: Duration;
  /**
   * Set explicitly: CDK's docstring default (3) differs from the service default (5).
   * @default 2
   */
  readonly healthyThresholdCount?: number;
  /** @default 2 */
  readonly unhealthyThresholdCount?: number;
  /**
   * The drain bound, and the target group's deregistration delay (at most one hour). When an
   * instance leaves (scale-in, refresh, replacement), idle tunnels are closed at once and tunnels
   * still moving bytes get until this runs out, less the sidecar's notice time; the instance is
   * released as soon as it holds no connection. The fleet sets the config's `timeouts.drainMs`
   * from it (see `timing.ts`).
   * @default Duration.minutes(5)
   */
  readonly maxDrain?: Duration;
  /**
   * Time after an instance enters service before ELB health counts; must exceed the detection
   * time (interval x unhealthy threshold).
   * @default Duration.seconds(120)
   */
  readonly healthCheckGracePeriod?: Duration;
  /**
   * Heartbeat timeout of the launching lifecycle hook; the sidecar abandons a launch that is not
   * ready a minute before it.
   * @default Duration.minutes(5)
   */
  readonly launchingHookTimeout?: Duration;
  /**
   * Heartbeat timeout of the terminating lifecycle hook (default result CONTINUE). It must outlast
   * a drain that starts as late as Terminating:Wait: longer than `maxDrain` plus the sidecar's
   * notice time, and than its heartbeat interval.
   * @default - maxDrain plus one minute
   */
  readonly terminatingHookTimeout?: Duration;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Topic for the group's launch and terminate notifications (and their errors).
   * @default - no notifications
   */
  readonly notificationsTopic?: sns.ITopic;
  /**
   * CloudWatch namespace of the proxy's and sidecar's metrics and the access-log counts; two
   * fleets in one stack need different ones.
   * @default - `EgressProxy/<stack name>`
   */
  readonly metricNamespace?: string;
  /**
   * A CloudWatch dashboard for the fleet (`EgressProxyDashboard`); about 3 USD a month beyond an
   * account's free dashboards.
   * @default true
   */
  readonly dashboard?: boolean;
}

/**
 * The proxy fleet: an internal NLB whose target group is health-checked over HTTP by each
 * instance's sidecar, and an ELB-checked Auto Scaling Group that replaces any instance the sidecar
 * reports broken. Clients connect through `connections` (the load balancer's security group).
 */
export class EgressProxyFleet extends Construct implements ec2.IConnectable, iam.IGrantable {
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly targetGroup: elbv2.NetworkTargetGroup;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly role: iam.IRole;
  readonly grantPrincipal: iam.IPrincipal;
  /** The load balancer's security group, default port the proxy port: `fleet.connections.allowDefaultPortFrom(workload)`. */
  readonly connections: ec2.Connections;
  /** The instances' security group. */
  readonly instanceSecurityGroup: ec2.ISecurityGroup;
  readonly logGroup: logs.LogGroup;
  /** Where the instances' Prometheus metrics go in CloudWatch. */
  readonly metrics: FleetMetrics;
  /** Undefined when the `dashboard` prop is false. */
  readonly dashboard?: EgressProxyDashboard;
  readonly unhealthyHostsAlarm: cloudwatch.Alarm;
  readonly healthyHostsBelowMinimumAlarm: cloudwatch.Alarm;
  readonly failOpenAlarm: cloudwatch.Alarm;
  /** Most requests denied: a policy outage that health checks cannot see (see `AccessLogAlarms`). */
  readonly deniedShareAlarm: cloudwatch.Alarm;
  /** `http://<nlb-dns>:<port>`. */
  readonly proxyUrl: string;
  readonly timing: Timing;
  /** The group's name, fixed at synth so the instances' permissions need no reference to the group. */
  readonly autoScalingGroupName: string;

  constructor(scope: Construct, id: string, props: EgressProxyFleetProps) {
    super(scope, id);
    const { vpc } = props;
    const launchingHookTimeout = props.launchingHookTimeout ?? ProxyLifecycleHooks.DEFAULT_LAUNCH_TIMEOUT;
    let config = props.config;
    const proxyPort = config.proxy.port;
    const healthPort = config.health.port;
    const minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 4;
    const interval = props.healthCheckInterval ?? Duration.seconds(10);
    const timeout = props.healthCheckTimeout ?? Duration.seconds(5);
    const healthyThresholdCount = props.healthyThresholdCount ?? 2;
    const unhealthyThresholdCount = props.unhealthyThresholdCount ?? 2;
    const maxDrain = props.maxDrain ?? Duration.minutes(5);
    const gracePeriod = props.healthCheckGracePeriod ?? Duration.seconds(120);
    const instanceType = props.instanceType ?? new ec2.InstanceType('t4g.small');
    const vpcSubnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const targetHealthPollSeconds = config.lifecycle.targetHealthPollMs / 1000;
    const terminatingHookTimeout =
      props.terminatingHookTimeout ??
      Duration.seconds(
        drainTiming(maxDrain.toSeconds(), targetHealthPollSeconds).terminatingHookTimeoutSeconds,
      );

    this.validateProps(props, minCapacity, maxCapacity);
    this.timing = validateTimingChain(
      {
        probeTimeoutSeconds: config.probe.timeoutMs / 1000,
        healthCheckTimeoutSeconds: timeout.toSeconds(),
        healthCheckIntervalSeconds: interval.toSeconds(),
        healthyThresholdCount,
        unhealthyThresholdCount,
        healthCheckGracePeriodSeconds: gracePeriod.toSeconds(),
        maxDrainSeconds: maxDrain.toSeconds(),
        drainIdleSeconds: config.timeouts.drainIdleMs / 1000,
        targetHealthPollSeconds,
        terminatingHookTimeoutSeconds: terminatingHookTimeout.toSeconds(),
        heartbeatSeconds: config.lifecycle.heartbeatMs / 1000,
      },
      this,
    );
    const zones = vpc.selectSubnets(vpcSubnets).availabilityZones;
    if (zones.length < 2) {
      throw new EgressProxyValidationError(
        'vpcSubnets',
        `selects subnets in ${zones.length} availability zone(s); the fleet needs at least two`,
        this,
      );
    }

    // Security groups. CDK adds no rules for NLB targets, and NLB health checks obey the load
    // balancer group's egress, so both directions are explicit.
    const lbSecurityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc,
      description:
        'Egress proxy NLB: clients in on the proxy port; out to instances on proxy and health ports',
      allowAllOutbound: false,
    });
    for (const cidr of props.clientCidrs ?? [vpc.vpcCidrBlock]) {
      lbSecurityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(proxyPort), 'Proxy clients');
    }
    Validations.of(lbSecurityGroup).acknowledge({
      id: 'AwsSolutions::AwsSolutions-EC23',
      reason:
        'The rule cannot evaluate the default client range, the VPC CIDR, because it is a deploy-time reference. Explicit clientCidrs are plain strings, and /0 ranges are rejected at synth (validateProps).',
    });
    const instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc,
      description:
        'Egress proxy instances: proxy and health ports from the NLB only; out to the allowlist ports, HTTPS and DNS',
      allowAllOutbound: false,
    });
    lbSecurityGroup.connections.allowTo(instanceSecurityGroup, ec2.Port.tcp(proxyPort), 'Proxy traffic');
    lbSecurityGroup.connections.allowTo(instanceSecurityGroup, ec2.Port.tcp(healthPort), 'Health checks');
    // Out to exactly the ports the allowlist can reach, plus HTTPS for the AWS APIs the instances
    // call (lifecycle, logs, SSM, AppConfig) and DNS.
    const destinationRanges = portRanges([...reachablePorts(props.policy ?? config), 443]);
    if (destinationRanges.length > MAX_DESTINATION_PORT_RANGES) {
      throw new EgressProxyValidationError(
        props.policy ? 'policy.allow' : 'config.allow',
        `names ${destinationRanges.length} separate destination port ranges; the instances' security group holds ${MAX_DESTINATION_PORT_RANGES} (use fewer distinct ports)`,
        this,
      );
    }
    for (const [from, to] of destinationRanges) {
      instanceSecurityGroup.addEgressRule(
        ec2.Peer.anyIpv4(),
        from === to ? ec2.Port.tcp(from) : ec2.Port.tcpRange(from, to),
        from <= 443 && 443 <= to ? 'Allowed destinations and AWS APIs' : 'Allowed destinations',
      );
    }
    instanceSecurityGroup.addEgressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.udp(53), 'DNS in the VPC');
    instanceSecurityGroup.addEgressRule(ec2.Peer.ipv4(vpc.vpcCidrBlock), ec2.Port.tcp(53), 'DNS in the VPC');
    this.instanceSecurityGroup = instanceSecurityGroup;
    this.connections = new ec2.Connections({
      securityGroups: [lbSecurityGroup],
      defaultPort: ec2.Port.tcp(proxyPort),
    });

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'Egress proxy instances: lifecycle hooks, log shipping, SSM Session Manager',
    });
    // Only the stack's own log group, instead of CloudWatchAgentServerPolicy's logs:* on '*'.
    this.logGroup.grant(role, 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams');
    const sessionManager = new iam.Policy(this, 'SessionManagerPolicy', {
      roles: [role],
      statements: [
        new iam.PolicyStatement({
          sid: 'SessionManagerOnly',
          actions: [
            'ssm:UpdateInstanceInformation',
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
          ],
          resources: ['*'],
        }),
      ],
    });
    Validations.of(sessionManager).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        "AWS's minimal Session Manager instance policy, as documented (Systems Manager User Guide, 'Create a custom IAM role for Session Manager'), with Resource '*' as there: instead of AmazonSSMManagedInstanceCore, which adds ssm:GetParameter(s) on every parameter, documents, associations and inventory. No S3 or KMS session logging.",
    });
    this.role = role;
    this.grantPrincipal = role;
    this.metrics = new FleetMetrics(this, 'Metrics', { role, namespace: props.metricNamespace });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      vpcSubnets,
      internetFacing: false,
      crossZoneEnabled: true,
      securityGroups: [lbSecurityGroup],
    });
    Validations.of(this.loadBalancer).acknowledge({
      id: 'AwsSolutions::AwsSolutions-ELB2',
      reason:
        "NLB access logs are written only for TLS listeners (ELB docs, enable-access-logs), and this load balancer has a TCP listener only, so they would stay empty. Each request and tunnel is in the proxy's own access log (CloudWatch Logs); the VPC flow log records rejected traffic only.",
    });

    this.targetGroup = new elbv2.NetworkTargetGroup(this, 'TargetGroup', {
      vpc,
      port: proxyPort,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.INSTANCE,
      preserveClientIp: true,
      // The drain bound. A target with no connection left ends its delay at once (ELB docs:
      // "If a deregistering target has no in-flight requests and no active connections, Elastic
      // Load Balancing immediately completes the deregistration process", aws-facts.md §9), so an
      // idle instance leaves fast and a busy one within the bound.
      deregistrationDelay: Duration.seconds(this.timing.deregistrationDelaySeconds),
      // The proxy closes what is left before the delay ends (its deadline is the delay less the
      // sidecar's notice time). Flows still open then belong to an instance whose drain never
      // started (sidecar down, API unreachable): without termination the load balancer leaves
      // them open (§1.4) on an instance about to be terminated, and the clients hang until their
      // own timeouts; with it they get a reset at the bound and reconnect elsewhere.
      connectionTermination: true,
      healthCheck: {
        enabled: true,
        // HTTP on the sidecar, not TCP on the proxy: a listening but broken proxy must fail.
        protocol: elbv2.Protocol.HTTP,
        port: String(healthPort),
        path: HEALTH_CHECK_PATH,
        healthyHttpCodes: '200',
        interval,
        timeout,
        healthyThresholdCount,
        unhealthyThresholdCount,
      },
      // Explicit service defaults: below one healthy target the NLB fails open (see docs/deploy.md).
      targetGroupHealth: { dnsMinimumHealthyTargetCount: 1, routingMinimumHealthyTargetCount: 1 },
    });
    this.loadBalancer.addListener('Proxy', {
      port: proxyPort,
      protocol: elbv2.Protocol.TCP,
      defaultTargetGroups: [this.targetGroup],
      tcpIdleTimeout: Duration.seconds(
        Math.max(NLB_DEFAULT_TCP_IDLE_SECONDS, Math.ceil(config.timeouts.idleMs / 1000) + 30),
      ),
    });

    // The launch template carries the config: the drain deadline, and the lifecycle section that
    // names the target group.
    config = withFleetSettings(config, {
      timeouts: { drainMs: this.timing.proxyDrainSeconds * 1000 },
      lifecycle: ProxyLifecycleHooks.instanceSettings(
        this,
        this.targetGroup,
        terminatingHookTimeout,
        launchingHookTimeout,
      ),
    });
    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: props.machineImage,
      instanceType,
      role,
      securityGroup: instanceSecurityGroup,
      userData: proxyUserData({
        config,
        logGroupName: this.logGroup.logGroupName,
        metrics: this.metrics.agentTarget,
      }),
      // IMDSv2 belongs here: the group's requireImdsv2 throws when a launch template is used.
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      // Instances find their group through the aws:autoscaling:groupName tag, not user data.
      instanceMetadataTags: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(8, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            deleteOnTermination: true,
          }),
        },
      ],
    });

    // Fixed at synth from the stack name (a pseudo parameter) and this construct's path: the
    // lifecycle permissions name the group's ARN without a Ref, so CloudFormation can create them
    // before the group and its first instances (aws-facts.md §9). A fixed name also means the
    // group is never replaced by an update (CloudFormation cannot create a second one with the
    // name); instance refresh replaces instances, not the group.
    this.autoScalingGroupName = `${Aws.STACK_NAME}-${this.node.id}-${Names.uniqueId(this).slice(-8)}`;
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      autoScalingGroupName: this.autoScalingGroupName,
      vpc,
      vpcSubnets,
      launchTemplate: this.launchTemplate,
      minCapacity,
      maxCapacity,
      desiredCapacity: props.desiredCapacity,
      healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
        additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
        gracePeriod,
      }),
      // Launch before terminating: replacements (health or refresh) never reduce capacity.
      minHealthyPercentage: 100,
      maxHealthyPercentage: 200,
      capacityRebalance: true,
      defaultInstanceWarmup: gracePeriod,
      cooldown: Duration.seconds(120),
      groupMetrics: [autoscaling.GroupMetrics.all()],
      // A new image or config changes the launch template: replace instances one step at a time.
      updatePolicy: autoscaling.UpdatePolicy.instanceRefresh({
        strategy: autoscaling.InstanceRefreshStrategy.ROLLING,
        instanceWarmup: gracePeriod,
        skipMatching: true,
      }),
      notifications: props.notificationsTopic ? [{ topic: props.notificationsTopic }] : undefined,
    });
    if (!props.notificationsTopic) {
      Validations.of(this.autoScalingGroup).acknowledge({
        id: 'AwsSolutions::AwsSolutions-AS3',
        reason:
          'Notifications are opt-in (notificationsTopic prop); launch and terminate events also reach EventBridge without configuration, and the alarms cover unhealthy hosts.',
      });
    }
    this.autoScalingGroup.attachToNetworkTargetGroup(this.targetGroup);
    new ProxyLifecycleHooks(this, 'Lifecycle', {
      autoScalingGroup: this.autoScalingGroup,
      groupName: this.autoScalingGroupName,
      targetGroup: this.targetGroup,
      role,
      launchTimeout: launchingHookTimeout,
      terminateTimeout: terminatingHookTimeout,
    });
    // Every permission the instances use must exist before the group launches them (§9): the
    // role with its default policy (log shipping), Session Manager's. The lifecycle policy adds
    // its own dependency.
    this.autoScalingGroup.node.addDependency(role, sessionManager);
    this.autoScalingGroup.scaleOnCpuUtilization('CpuTracking', {
      targetUtilizationPercent: props.targetCpuPercent ?? 60,
    });

    const metrics = this.targetGroup.metrics;
    this.unhealthyHostsAlarm = new cloudwatch.Alarm(this, 'UnhealthyHosts', {
      alarmDescription:
        'An egress proxy target is unhealthy (its sidecar cannot proxy); Auto Scaling replaces it.',
      metric: metrics.unHealthyHostCount({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.healthyHostsBelowMinimumAlarm = new cloudwatch.Alarm(this, 'HealthyHostsBelowMinimum', {
      alarmDescription: `Fewer healthy egress proxies than the group's minimum (${minCapacity}).`,
      metric: metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
      threshold: minCapacity,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    this.failOpenAlarm = new cloudwatch.Alarm(this, 'NoHealthyHosts', {
      alarmDescription:
        'No healthy egress proxy: the NLB fails open and sends traffic to all (unhealthy) targets. Look for a shared cause before the group churns.',
      metric: metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    this.deniedShareAlarm = new AccessLogAlarms(this, 'AccessLog', {
      logGroup: this.logGroup,
      namespace: this.metrics.namespace,
    }).deniedShareAlarm;

    this.proxyUrl = `http://${this.loadBalancer.loadBalancerDnsName}:${proxyPort}`;
    if (props.dashboard ?? true) {
      this.dashboard = new EgressProxyDashboard(this, 'Dashboard', {
        targetGroup: this.targetGroup,
        autoScalingGroup: this.autoScalingGroup,
        metrics: this.metrics,
        availabilityZones: zones,
        alarms: this.node.findAll().filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm),
      });
    }
  }

  /**
   * Lets workloads in `workloadSecurityGroup` use the proxy (see `admitWorkload`); with
   * `restrictEgress`, the proxy port is the group's way out.
   */
  admit(workloadSecurityGroup: ec2.ISecurityGroup, options: AdmitOptions = {}): void {
    admitWorkload(this, this.connections, workloadSecurityGroup, options);
  }

  private validateProps(props: EgressProxyFleetProps, minCapacity: number, maxCapacity: number): void {
    const fail = (prop: string, problem: string): never => {
      throw new EgressProxyValidationError(prop, problem, this);
    };
    if (minCapacity < 1) fail('minCapacity', `(${minCapacity}) must be at least 1`);
    if (minCapacity > maxCapacity)
      fail('minCapacity', `(${minCapacity}) must not exceed maxCapacity (${maxCapacity})`);
    const desired = props.desiredCapacity;
    if (desired !== undefined && (desired < minCapacity || desired > maxCapacity)) {
      fail(
        'desiredCapacity',
        `(${desired}) must be between minCapacity (${minCapacity}) and maxCapacity (${maxCapacity})`,
      );
    }
    for (const cidr of props.clientCidrs ?? []) {
      if (!Token.isUnresolved(cidr) && cidr.endsWith('/0')) {
        fail('clientCidrs', `contains ${cidr}: an open proxy for the whole internet is not allowed`);
      }
    }
    if (props.clientCidrs?.length === 0) fail('clientCidrs', 'is empty: no client could reach the proxy');
    const idleSeconds = Math.ceil(props.config.timeouts.idleMs / 1000) + 30;
    if (idleSeconds > 6000) {
      fail(
        'config.timeouts.idleMs',
        `(${props.config.timeouts.idleMs}) exceeds the NLB's maximum TCP idle timeout`,
      );
    }
  }
}
