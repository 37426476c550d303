import { Annotations, CfnResource, Duration, RemovalPolicy, Stack, Tags } from 'aws-cdk-lib';
import * as appconfig from 'aws-cdk-lib/aws-appconfig';
import type * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { POLICY_TAGS } from './policy-tags.js';
import {
  APPCONFIG_POLL_SECONDS_RANGE,
  ConfigError,
  parsePolicyDocument,
  policyJsonSchema,
  type PolicyDocument,
  type PolicySettings,
} from '../proxy-app/src/config/index.js';
import { policyVersion } from '../proxy-app/src/policy/version.js';
import type { PolicyProblemCode } from '../proxy-app/src/sidecar/policy/errors.js';
import { EgressProxyValidationError } from './errors.js';

/** The problem codes worth a line of their own on the dashboard (proxy-app/src/sidecar/policy/errors.ts). */
const PROBLEM_CODES = [
  'EGRESS_POLICY_INVALID',
  'EGRESS_POLICY_UNREACHABLE',
  'EGRESS_POLICY_RELOAD_REFUSED',
] as const satisfies readonly PolicyProblemCode[];

/** Where the sidecar writes the fetched policy (its StateDirectory; the proxy reads it). */
export const POLICY_FILE_PATH = '/var/lib/egress-proxy/policy.json';

/**
 * Patterns that admit a cloud provider's storage (any bucket of any account: an exfiltration path).
 * Not refused, since an operator may mean it, but warned about at synth.
 */
const STORAGE_WILDCARDS = [
  /^\*\.amazonaws\.com\.?(:\d+)?$/i,
  /^\*\.(s3[.-].*\.)?amazonaws\.com\.?(:\d+)?$/i,
  /^\*\.(blob|dfs)\.core\.windows\.net\.?(:\d+)?$/i,
  /^\*\.core\.windows\.net\.?(:\d+)?$/i,
  /^\*\.(storage\.)?googleapis\.com\.?(:\d+)?$/i,
];

export interface PolicyDistributionProps {
  /** The policy (`allow`, `allowPorts`, `allowCidrs`), checked by proxy-app's `parsePolicyDocument`. */
  readonly policy: PolicyDocument;
  /**
   * How often each instance polls AppConfig (`RequiredMinimumPollIntervalInSeconds`), from 15 (the
   * service's minimum) to 3600.
   * @default Duration.seconds(15)
   */
  readonly pollInterval?: Duration;
  /**
   * How long AppConfig keeps watching the rollback alarm after a deployment reached every
   * instance. Must cover the alarm's time to fire: the denied-share alarm needs two 5-minute
   * periods. A second policy deploy cannot start until the previous deployment's bake is over.
   * @default Duration.minutes(15)
   */
  readonly bakeTime?: Duration;
}

/**
 * The policy as deployed configuration, not instance configuration: an AppConfig application,
 * environment and hosted configuration profile validated by the policy's JSON Schema (generated
 * from proxy-app's config module), an all-at-once deployment strategy with a bake time, and a
 * deployment on every deploy whose policy changed; plus an SSM parameter holding the same policy as
 * the boot fallback. The instances learn all of it by name only (`instanceSettings`), so a change
 * of the policy changes neither the launch template nor the user data, and replaces nothing.
 */
export class PolicyDistribution extends Construct {
  readonly application: appconfig.Application;
  readonly environment: appconfig.Environment;
  readonly configuration: appconfig.HostedConfiguration;
  readonly bootParameter: ssm.StringParameter;
  /** The policy's version (proxy-app's `policyVersion`), also the hosted version's label suffix. */
  readonly version: string;
  readonly pollInterval: Duration;

  constructor(scope: Construct, id: string, props: PolicyDistributionProps) {
    super(scope, id);
    const policy = validPolicy(props.policy, this);
    this.version = policyVersion(policy);
    this.pollInterval = props.pollInterval ?? Duration.seconds(APPCONFIG_POLL_SECONDS_RANGE[0]);
    const pollSeconds = this.pollInterval.toSeconds();
    if (pollSeconds < APPCONFIG_POLL_SECONDS_RANGE[0] || pollSeconds > 3600) {
      throw new EgressProxyValidationError(
        'pollInterval',
        `(${pollSeconds} s) must be from ${APPCONFIG_POLL_SECONDS_RANGE[0]} s (AppConfig's minimum) to 3600 s`,
        this,
      );
    }
    for (const pattern of policy.allow) {
      if (STORAGE_WILDCARDS.some((storage) => storage.test(pattern))) {
        Annotations.of(this).addWarningV2(
          'egress-proxy:storage-wildcard',
          `allow pattern "${pattern}" admits a cloud provider's storage for any account (any bucket): list the exact names your workloads need`,
        );
      }
    }
    const content = JSON.stringify(policy);

    this.application = new appconfig.Application(this, 'Application', {
      description: 'Egress proxy policy: where workloads may connect',
    });
    this.environment = new appconfig.Environment(this, 'Environment', {
      application: this.application,
      description: 'The egress proxy fleet of this stack',
      // The stack owns the environment: `cdk destroy` must not wait for the instances to go quiet.
      deletionProtectionCheck: appconfig.DeletionProtectionCheck.BYPASS,
    });
    const strategy = new appconfig.DeploymentStrategy(this, 'Strategy', {
      description: 'Every instance at once (they poll within seconds), then watch the rollback alarm',
      rolloutStrategy: appconfig.RolloutStrategy.linear({
        growthFactor: 100,
        deploymentDuration: Duration.minutes(0),
        finalBakeTime: props.bakeTime ?? Duration.minutes(15),
      }),
    });
    this.configuration = new appconfig.HostedConfiguration(this, 'Policy', {
      application: this.application,
      content: appconfig.ConfigurationContent.fromInlineJson(content),
      validators: [appconfig.JsonSchemaValidator.fromInline(JSON.stringify(policyJsonSchema()))],
      // The label must contain a non-digit (CloudFormation's pattern); fleet status reads the version from it.
      versionLabel: `policy-${this.version}`,
      deploymentStrategy: strategy,
      deployTo: [this.environment],
      deletionProtectionCheck: appconfig.DeletionProtectionCheck.BYPASS,
    });
    // Replacing the content replaces the hosted version; keeping the old one lets AppConfig roll
    // back to it and keeps the history.
    this.hostedVersion().applyRemovalPolicy(RemovalPolicy.RETAIN);

    this.bootParameter = new ssm.StringParameter(this, 'BootPolicy', {
      description: 'Egress proxy boot policy: read by an instance only when AppConfig gives none at boot',
      stringValue: content,
      // Standard (4 KB) when it fits, advanced (8 KB) when it does not.
      tier: ssm.ParameterTier.INTELLIGENT_TIERING,
    });
    if (Buffer.byteLength(content) > 8192) {
      throw new EgressProxyValidationError(
        'policy',
        `is ${Buffer.byteLength(content)} bytes as JSON; the boot parameter holds at most 8 KB (shorten the allowlist)`,
        this,
      );
    }
  }

  /**
   * The instance config's `policy` section: names only (ids, the parameter's name, the region),
   * none of which changes when the policy does.
   */
  instanceSettings(): PolicySettings {
    return {
      file: POLICY_FILE_PATH,
      appConfig: {
        application: this.application.applicationId,
        environment: this.environment.environmentId,
        profile: this.configuration.configurationProfileId,
        pollIntervalSeconds: this.pollInterval.toSeconds(),
      },
      bootParameter: this.bootParameter.parameterName,
      bootWaitMs: 10_000,
      region: Stack.of(this).region,
    };
  }

  /**
   * Connects the fleet: its role may read exactly this configuration and this parameter; AppConfig
   * rolls a deployment back when `rollbackAlarm` fires; the group is tagged with where `fleet
   * status` finds the policy; the first deployment waits for the group, so that its rollback alarm
   * (created in the same deploy) has left INSUFFICIENT_DATA, which AppConfig treats as a failure.
   */
  bind(fleet: {
    readonly role: iam.IRole;
    readonly autoScalingGroup: autoscaling.AutoScalingGroup;
    readonly logGroup: logs.ILogGroup;
    readonly rollbackAlarm: cloudwatch.IAlarm;
    /** Gets a row with the policy's alarm and problems. @default - no dashboard */
    readonly dashboard?: cloudwatch.Dashboard;
  }): { policyProblems: cloudwatch.Metric; rejectedAlarm: cloudwatch.Alarm } {
    const stack = Stack.of(this);
    const configurationArn = stack.formatArn({
      service: 'appconfig',
      resource: 'application',
      resourceName: `${this.application.applicationId}/environment/${this.environment.environmentId}/configuration/${this.configuration.configurationProfileId}`,
    });
    const readPolicy = new iam.Policy(this, 'InstancePolicy', {
      roles: [fleet.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'PollOwnPolicy',
          actions: ['appconfig:StartConfigurationSession', 'appconfig:GetLatestConfiguration'],
          resources: [configurationArn],
        }),
        new iam.PolicyStatement({
          sid: 'ReadBootPolicy',
          actions: ['ssm:GetParameter'],
          resources: [this.bootParameter.parameterArn],
        }),
      ],
    });
    // Instances of the first deploy poll at boot; the permission must exist before they launch.
    const group = fleet.autoScalingGroup.node.defaultChild as CfnResource;
    group.node.addDependency(readPolicy);

    const alarmRole = new iam.Role(this, 'RollbackAlarmRole', {
      assumedBy: new iam.ServicePrincipal('appconfig.amazonaws.com'),
      description: 'AppConfig reads the egress proxy rollback alarm during policy deployments',
      inlinePolicies: {
        ReadRollbackAlarm: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['cloudwatch:DescribeAlarms'],
              resources: [fleet.rollbackAlarm.alarmArn],
            }),
          ],
        }),
      },
    });
    // The L2 takes monitors only at construction, before the fleet (and its alarm) exists.
    (this.environment.node.defaultChild as appconfig.CfnEnvironment).monitors = [
      { alarmArn: fleet.rollbackAlarm.alarmArn, alarmRoleArn: alarmRole.roleArn },
    ];
    for (const deployment of this.configuration.node.findAll()) {
      if (deployment instanceof appconfig.CfnDeployment)
        deployment.node.addDependency(fleet.autoScalingGroup);
    }

    Tags.of(fleet.autoScalingGroup).add(
      POLICY_TAGS.appConfig,
      `${this.application.applicationId}/${this.environment.environmentId}`,
      { applyToLaunchedInstances: false },
    );
    Tags.of(fleet.autoScalingGroup).add(POLICY_TAGS.logGroup, fleet.logGroup.logGroupName, {
      applyToLaunchedInstances: false,
    });

    // The sidecar logs every policy problem with a stable code (proxy-app/src/sidecar/policy/errors.ts).
    const namespace = `EgressProxy/${stack.stackName}`;
    const filter = new logs.MetricFilter(this, 'ProblemsFilter', {
      logGroup: fleet.logGroup,
      filterPattern: logs.FilterPattern.stringValue(
        '$.msg',
        '=',
        'policy problem; keeping the policy in force',
      ),
      metricNamespace: namespace,
      metricName: 'PolicyProblems',
      metricValue: '1',
      dimensions: { Code: '$.code' },
    });
    const policyProblems = filter.metric({ statistic: 'Sum', period: Duration.minutes(5) });
    const rejectedAlarm = new cloudwatch.Alarm(this, 'PolicyRejected', {
      alarmDescription:
        "An instance refused a deployed policy (it passed AppConfig's JSON Schema but not the proxy's validator, e.g. a CIDR with bits after its prefix). The policy in force stays; fix and redeploy the policy.",
      metric: new cloudwatch.Metric({
        namespace,
        metricName: 'PolicyProblems',
        dimensionsMap: { Code: 'EGRESS_POLICY_INVALID' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    fleet.dashboard?.addWidgets(
      new cloudwatch.AlarmStatusWidget({
        title: 'Policy alarms',
        alarms: [rejectedAlarm],
        width: 8,
        height: 6,
      }),
      new cloudwatch.GraphWidget({
        title: 'Policy problems per 5 minutes (sidecar log), by code',
        left: PROBLEM_CODES.map(
          (code) =>
            new cloudwatch.Metric({
              namespace,
              metricName: 'PolicyProblems',
              dimensionsMap: { Code: code },
              statistic: 'Sum',
              period: Duration.minutes(5),
              label: code,
            }),
        ),
        width: 16,
        height: 6,
      }),
    );
    return { policyProblems, rejectedAlarm };
  }

  private hostedVersion(): appconfig.CfnHostedConfigurationVersion {
    const found = this.configuration.node
      .findAll()
      .find((child) => child instanceof appconfig.CfnHostedConfigurationVersion);
    return found as appconfig.CfnHostedConfigurationVersion;
  }
}

function validPolicy(policy: PolicyDocument, scope: Construct): PolicyDocument {
  try {
    return parsePolicyDocument(policy);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new EgressProxyValidationError('policy', `is invalid: ${error.message}`, scope);
    }
    throw error;
  }
}
