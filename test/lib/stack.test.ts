import { Template, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp, stableTemplate } from './helpers.js';

// One synthesized app for the whole file: synth is the slow part on a 2-core machine.
const { stack } = buildApp();
const template = Template.fromStack(stack);
const resources = (type: string) => template.findResources(type);
const only = (type: string) => {
  const found = Object.values(resources(type));
  expect(found).toHaveLength(1);
  return found[0] as { Properties: Record<string, unknown>; UpdatePolicy?: Record<string, unknown> };
};
/** The logical id of the one resource of `type` whose id starts with `prefix` (the construct path without slashes). */
const logicalId = (type: string, prefix: string): string => {
  const ids = Object.keys(resources(type)).filter((id) => id.startsWith(prefix));
  expect(ids, `${type} starting with ${prefix}`).toHaveLength(1);
  return ids[0]!;
};

describe('EgressProxy stack', () => {
  it('matches the snapshot (asset hashes replaced by placeholders)', () => {
    expect(stableTemplate(template.toJSON())).toMatchSnapshot();
  });

  describe('target group', () => {
    it('checks health over HTTP on the sidecar port, not the traffic port', () => {
      const tg = only('AWS::ElasticLoadBalancingV2::TargetGroup').Properties;
      expect(tg).toMatchObject({
        Protocol: 'TCP',
        Port: 3128,
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPort: '8081',
        HealthCheckPath: '/healthcheck',
        Matcher: { HttpCode: '200' },
      });
      expect(tg.HealthCheckPort).not.toBe(String(tg.Port));
    });

    it('sets interval, timeout and both thresholds explicitly', () => {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckIntervalSeconds: 10,
        HealthCheckTimeoutSeconds: 5,
        HealthyThresholdCount: 2,
        UnhealthyThresholdCount: 2,
      });
    });

    it('drains for the drain bound, terminates flows left after it and preserves client IPs', () => {
      const tg = only('AWS::ElasticLoadBalancingV2::TargetGroup').Properties;
      expect(tg.TargetGroupAttributes).toEqual(
        expect.arrayContaining([
          { Key: 'deregistration_delay.timeout_seconds', Value: '300' },
          { Key: 'deregistration_delay.connection_termination.enabled', Value: 'true' },
          { Key: 'preserve_client_ip.enabled', Value: 'true' },
          { Key: 'target_group_health.unhealthy_state_routing.minimum_healthy_targets.count', Value: '1' },
        ]),
      );
    });
  });

  describe('load balancer', () => {
    it('is internal, cross-zone, in two subnets, with its own security group', () => {
      const lb = only('AWS::ElasticLoadBalancingV2::LoadBalancer').Properties;
      expect(lb).toMatchObject({ Scheme: 'internal', Type: 'network' });
      expect(lb.Subnets).toHaveLength(2);
      expect(lb.SecurityGroups).toEqual([
        { 'Fn::GetAtt': [logicalId('AWS::EC2::SecurityGroup', 'FleetLoadBalancerSecurityGroup'), 'GroupId'] },
      ]);
      expect(lb.LoadBalancerAttributes).toEqual(
        expect.arrayContaining([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
      );
    });

    it('listens with TCP on the proxy port', () => {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Protocol: 'TCP',
        Port: 3128,
      });
    });
  });

  describe('security groups', () => {
    const lbSg = logicalId('AWS::EC2::SecurityGroup', 'FleetLoadBalancerSecurityGroup');
    const instanceSg = logicalId('AWS::EC2::SecurityGroup', 'FleetInstanceSecurityGroup');

    it('admits clients to the load balancer from the VPC CIDR on the proxy port only', () => {
      const sg = resources('AWS::EC2::SecurityGroup')[lbSg] as {
        Properties: { SecurityGroupIngress: unknown[] };
      };
      expect(sg.Properties.SecurityGroupIngress).toEqual([
        expect.objectContaining({
          CidrIp: { 'Fn::GetAtt': [expect.stringMatching(/^Vpc/), 'CidrBlock'] },
          FromPort: 3128,
          ToPort: 3128,
          IpProtocol: 'tcp',
        }),
      ]);
    });

    it.each([3128, 8081])(
      'lets the load balancer out to the instances on port %i (health checks obey egress)',
      (port) => {
        template.hasResourceProperties('AWS::EC2::SecurityGroupEgress', {
          GroupId: { 'Fn::GetAtt': [lbSg, 'GroupId'] },
          DestinationSecurityGroupId: { 'Fn::GetAtt': [instanceSg, 'GroupId'] },
          FromPort: port,
          ToPort: port,
        });
        template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
          GroupId: { 'Fn::GetAtt': [instanceSg, 'GroupId'] },
          SourceSecurityGroupId: { 'Fn::GetAtt': [lbSg, 'GroupId'] },
          FromPort: port,
          ToPort: port,
        });
      },
    );

    it('admits nothing else into the instances', () => {
      const ingress = Object.values(resources('AWS::EC2::SecurityGroupIngress')).filter((r) =>
        JSON.stringify((r as { Properties: { GroupId: unknown } }).Properties.GroupId).includes(instanceSg),
      );
      expect(ingress).toHaveLength(2);
      const inline = resources('AWS::EC2::SecurityGroup')[instanceSg] as {
        Properties: Record<string, unknown>;
      };
      expect(inline.Properties.SecurityGroupIngress).toBeUndefined();
    });

    const egressOf = (t: Template) => {
      const [sg] = Object.entries(t.findResources('AWS::EC2::SecurityGroup'))
        .filter(([id]) => id.startsWith('FleetInstanceSecurityGroup'))
        .map(([, r]) => r as { Properties: { SecurityGroupEgress: Record<string, unknown>[] } });
      return sg!.Properties.SecurityGroupEgress.map(
        (r) => `${String(r.IpProtocol)}/${String(r.FromPort)}-${String(r.ToPort)}`,
      ).sort();
    };

    it('lets instances out on the allowlist’s ports (here allowPorts 80, 443) and DNS only', () => {
      expect(egressOf(template)).toEqual(['tcp/443-443', 'tcp/53-53', 'tcp/80-80', 'udp/53-53']);
    });

    it('opens a port a pattern names, and allowPorts only where a pattern or allowCidrs uses them', () => {
      const named = Template.fromStack(
        buildApp({
          'egressProxy:allow': ['example.com:8443', 'api.example.com:9000'],
          'egressProxy:allowPorts': [80, 8080],
        }).stack,
      );
      // No pattern without a port and no allowCidrs: 80 and 8080 are unreachable; 443 is for AWS APIs.
      expect(egressOf(named)).toEqual([
        'tcp/443-443',
        'tcp/53-53',
        'tcp/8443-8443',
        'tcp/9000-9000',
        'udp/53-53',
      ]);
    });
  });

  describe('auto scaling group', () => {
    it('uses ELB health checks with a grace period', () => {
      template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
        HealthCheckType: 'ELB',
        HealthCheckGracePeriod: 120,
        MinSize: '2',
        MaxSize: '4',
        TargetGroupARNs: [{ Ref: logicalId('AWS::ElasticLoadBalancingV2::TargetGroup', 'FleetTargetGroup') }],
      });
    });

    it('keeps capacity during replacement and rebalances', () => {
      template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
        InstanceMaintenancePolicy: { MinHealthyPercentage: 100, MaxHealthyPercentage: 200 },
        CapacityRebalance: true,
      });
    });

    it('rolls the fleet when the launch template changes', () => {
      const asg = only('AWS::AutoScaling::AutoScalingGroup');
      expect(asg.Properties.LaunchTemplate).toEqual({
        LaunchTemplateId: { Ref: logicalId('AWS::EC2::LaunchTemplate', 'FleetLaunchTemplate') },
        Version: {
          'Fn::GetAtt': [logicalId('AWS::EC2::LaunchTemplate', 'FleetLaunchTemplate'), 'LatestVersionNumber'],
        },
      });
      expect(asg.UpdatePolicy).toMatchObject({ AutoScalingInstanceRefresh: { Strategy: 'Rolling' } });
    });

    it('scales by target tracking', () => {
      template.hasResourceProperties('AWS::AutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingConfiguration: Match.objectLike({ TargetValue: 60 }),
      });
    });
  });

  describe('launch template', () => {
    const data = () =>
      only('AWS::EC2::LaunchTemplate').Properties.LaunchTemplateData as Record<string, unknown> & {
        UserData: { 'Fn::Base64': { 'Fn::Join': [string, unknown[]] } };
      };

    it('requires IMDSv2 with hop limit 1', () => {
      expect(data().MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 1 });
    });

    it('uses the built image directly (no Mapping) with encrypted EBS and no key pair', () => {
      expect(data().ImageId).toEqual({
        'Fn::GetAtt': [logicalId('AWS::ImageBuilder::Image', 'Image'), 'ImageId'],
      });
      expect(template.toJSON().Mappings).toBeUndefined();
      expect(data().BlockDeviceMappings).toEqual([
        expect.objectContaining({ Ebs: expect.objectContaining({ Encrypted: true }) }),
      ]);
      expect(data().KeyName).toBeUndefined();
    });

    it('user data writes the config before enabling both units', () => {
      const parts = data().UserData['Fn::Base64']['Fn::Join'][1];
      const script = parts.map((p) => (typeof p === 'string' ? p : '<token>')).join('');
      const write = script.indexOf("cat > /etc/egress-proxy/config.json <<'EGRESS_PROXY_CONFIG'");
      const enable = script.indexOf(
        'systemctl enable --now egress-proxy.service egress-proxy-sidecar.service',
      );
      expect(write).toBeGreaterThan(-1);
      expect(enable).toBeGreaterThan(write);
      const json = script.slice(script.indexOf('\n', write) + 1, script.indexOf('\nEGRESS_PROXY_CONFIG\n'));
      // The allowlist is not in the user data: it is deployed configuration (test/lib/policy-distribution.test.ts).
      expect(JSON.parse(json)).toMatchObject({
        allow: [],
        proxy: { port: 3128 },
        health: { port: 8081 },
        // The drain bound less the sidecar's notice time (timing.ts), and the idle cut-off.
        timeouts: { drainMs: 285_000, drainIdleMs: 5_000 },
        probe: { timeoutMs: 2000 },
        lifecycle: { targetHealthPollMs: 10_000, terminateWaitMs: 360_000 },
      });
      expect(script).toContain('TimeoutStopSec=300');
      // The group's name in its own launch template would be a dependency cycle.
      expect(JSON.stringify(parts)).not.toMatch(/AutoScalingGroup|FleetGroup/);
    });
  });

  describe('instance role', () => {
    it('has no managed policy: logs scoped to its own log group, Session Manager’s documented minimum', () => {
      const roleId = logicalId('AWS::IAM::Role', 'FleetInstanceRole');
      expect(
        (resources('AWS::IAM::Role')[roleId] as { Properties: Record<string, unknown> }).Properties
          .ManagedPolicyArns,
      ).toBeUndefined();
      const statementsOf = (policyPrefix: string) =>
        (
          resources('AWS::IAM::Policy')[logicalId('AWS::IAM::Policy', policyPrefix)] as {
            Properties: { Roles: unknown[]; PolicyDocument: { Statement: Record<string, unknown>[] } };
          }
        ).Properties;
      const logs = statementsOf('FleetInstanceRoleDefaultPolicy');
      expect(logs.Roles).toEqual([{ Ref: roleId }]);
      expect(JSON.stringify(logs.PolicyDocument.Statement)).toContain('logs:PutLogEvents');
      expect(JSON.stringify(logs.PolicyDocument.Statement)).not.toMatch(/"Resource":"\*"/);
      const ssm = statementsOf('FleetSessionManagerPolicy');
      expect(ssm.Roles).toEqual([{ Ref: roleId }]);
      expect(ssm.PolicyDocument.Statement).toEqual([
        {
          Sid: 'SessionManagerOnly',
          Effect: 'Allow',
          Action: [
            'ssm:UpdateInstanceInformation',
            'ssmmessages:CreateControlChannel',
            'ssmmessages:CreateDataChannel',
            'ssmmessages:OpenControlChannel',
            'ssmmessages:OpenDataChannel',
          ],
          Resource: '*',
        },
      ]);
    });
  });

  describe('lifecycle hooks', () => {
    it('declares both hooks in the group itself, so the first instances get them too', () => {
      const group = only('AWS::AutoScaling::AutoScalingGroup').Properties;
      expect(group.LifecycleHookSpecificationList).toEqual([
        {
          LifecycleHookName: 'egress-proxy-launching',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          HeartbeatTimeout: 300,
          DefaultResult: 'ABANDON',
        },
        {
          LifecycleHookName: 'egress-proxy-terminating',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          // The drain bound plus a minute: outlasts a drain that starts at Terminating:Wait.
          HeartbeatTimeout: 360,
          DefaultResult: 'CONTINUE',
        },
      ]);
      template.resourceCountIs('AWS::AutoScaling::LifecycleHook', 0);
    });

    it('lets instances complete actions on their own group (by its fixed name), deregister from their own target group, and read target health', () => {
      const policies = Object.values(resources('AWS::IAM::Policy')).filter((policy) =>
        JSON.stringify(policy).includes('CompleteLifecycleAction'),
      );
      expect(policies).toHaveLength(1);
      const { Statement } = (policies[0] as { Properties: { PolicyDocument: { Statement: unknown[] } } })
        .Properties.PolicyDocument;
      expect(Statement).toEqual([
        {
          Sid: 'OwnGroupLifecycleActions',
          Effect: 'Allow',
          Action: ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat'],
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':autoscaling:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':autoScalingGroup:*:autoScalingGroupName/',
                { Ref: 'AWS::StackName' },
                expect.stringMatching(/^-Fleet-[0-9A-F]{8}$/),
              ],
            ],
          },
        },
        {
          Sid: 'OwnTargetGroupDeregistration',
          Effect: 'Allow',
          Action: 'elasticloadbalancing:DeregisterTargets',
          Resource: { Ref: logicalId('AWS::ElasticLoadBalancingV2::TargetGroup', 'FleetTargetGroup') },
        },
        {
          Sid: 'TargetHealthReads',
          Effect: 'Allow',
          Action: 'elasticloadbalancing:DescribeTargetHealth',
          Resource: '*',
        },
      ]);
    });

    it('names the group at synth, the name the lifecycle policy uses', () => {
      const group = only('AWS::AutoScaling::AutoScalingGroup').Properties;
      expect(group.AutoScalingGroupName).toEqual({
        'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, expect.stringMatching(/^-Fleet-[0-9A-F]{8}$/)]],
      });
    });

    it('passes the target group and region to the instances, with a launch deadline inside the hook', () => {
      const parts = (
        only('AWS::EC2::LaunchTemplate').Properties.LaunchTemplateData as {
          UserData: { 'Fn::Base64': { 'Fn::Join': [string, unknown[]] } };
        }
      ).UserData['Fn::Base64']['Fn::Join'][1];
      expect(parts).toContainEqual({
        Ref: logicalId('AWS::ElasticLoadBalancingV2::TargetGroup', 'FleetTargetGroup'),
      });
      expect(parts).toContainEqual({ Ref: 'AWS::Region' });
      const script = parts.map((p) => (typeof p === 'string' ? p : '<token>')).join('');
      expect(script).toContain('"enabled": true');
      expect(script).toContain('"launchTimeoutMs": 240000');
      expect(script).toContain('"terminateWaitMs": 360000');
    });
  });

  describe('image', () => {
    it('builds from AL2023 for arm64 via SSM, with tests on and assets passed as parameters', () => {
      template.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', {
        ParentImage: 'ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64',
        Components: [
          Match.objectLike({
            Parameters: [
              { Name: 'BundleS3Uri', Value: [Match.anyValue()] },
              { Name: 'ImageFilesS3Uri', Value: [Match.anyValue()] },
            ],
          }),
          {
            ComponentArn: {
              'Fn::GetAtt': [logicalId('AWS::ImageBuilder::Component', 'ImageTestComponent'), 'Arn'],
            },
          },
        ],
      });
      template.hasResourceProperties('AWS::ImageBuilder::Image', {
        ImageTestsConfiguration: { ImageTestsEnabled: true },
      });
    });

    it('builds only once the private subnets have their NAT route', () => {
      const image = logicalId('AWS::ImageBuilder::Image', 'Image');
      const natRoutes = Object.keys(resources('AWS::EC2::Route')).filter((id) =>
        /^VpcprivateSubnet\dDefaultRoute/.test(id),
      );
      expect(natRoutes).toHaveLength(2);
      const dependsOn = (template.toJSON().Resources[image] as { DependsOn: string[] }).DependsOn;
      expect(dependsOn).toEqual(expect.arrayContaining(natRoutes));
    });

    it('names component and recipe after the content hash', () => {
      const hash = stack.image.contentHash;
      expect(hash).toMatch(/^[0-9a-f]{16}$/);
      template.hasResourceProperties('AWS::ImageBuilder::Component', {
        Name: Match.stringLikeRegexp(`-${hash}$`),
      });
    });

    it('lets build instances read only the two asset objects', () => {
      const buildRole = logicalId('AWS::IAM::Role', 'ImageBuildRole');
      template.hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: buildRole }],
        PolicyDocument: {
          Statement: [
            Match.objectLike({ Action: 's3:GetObject', Resource: [Match.anyValue(), Match.anyValue()] }),
          ],
        },
      });
    });
  });

  describe('interface endpoints (setting)', () => {
    it('are off by default', () => {
      template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
    });

    it('put the APIs the instances call into the private subnets, with private DNS', () => {
      const withEndpoints = Template.fromStack(buildApp({ 'egressProxy:interfaceEndpoints': true }).stack);
      const services = Object.values(withEndpoints.findResources('AWS::EC2::VPCEndpoint')).map((endpoint) => {
        const { ServiceName, PrivateDnsEnabled, VpcEndpointType, SubnetIds } = (
          endpoint as { Properties: Record<string, unknown> }
        ).Properties;
        expect({ PrivateDnsEnabled, VpcEndpointType }).toEqual({
          PrivateDnsEnabled: true,
          VpcEndpointType: 'Interface',
        });
        expect(JSON.stringify(SubnetIds)).toMatch(/privateSubnet1.*privateSubnet2/);
        return JSON.stringify(ServiceName).replace(/.*\.([a-z0-9]+)"?\]*\]*\}*$/, '$1');
      });
      expect(services.sort()).toEqual([
        'autoscaling',
        'ec2messages',
        'elasticloadbalancing',
        'logs',
        'ssm',
        'ssmmessages',
      ]);
    });
  });

  describe('alarms and outputs', () => {
    it('alarms on unhealthy hosts, healthy hosts below minimum and no healthy host', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'UnHealthyHostCount',
        Threshold: 1,
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'HealthyHostCount',
        Threshold: 2,
        ComparisonOperator: 'LessThanThreshold',
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'HealthyHostCount',
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
      });
    });

    it('counts allowed and denied requests from the JSON access log and alarms when most are denied', () => {
      const filters = Object.values(resources('AWS::Logs::MetricFilter')) as {
        Properties: {
          FilterPattern: string;
          MetricTransformations: { MetricName: string; MetricNamespace: string }[];
        };
      }[];
      expect(
        filters
          .map((f) => [f.Properties.FilterPattern, f.Properties.MetricTransformations[0]!.MetricName])
          .sort((a, b) => a[1]!.localeCompare(b[1]!)),
      ).toEqual([
        ['{ $.decision = "allowed" }', 'AllowedRequests'],
        ['{ $.decision = "denied" }', 'DeniedRequests'],
        ['{ $.msg = "policy problem; keeping the policy in force" }', 'PolicyProblems'],
      ]);
      for (const filter of filters) {
        expect(filter.Properties.MetricTransformations[0]!.MetricNamespace).toBe('EgressProxy/EgressProxy');
      }
      const alarm = Object.values(resources('AWS::CloudWatch::Alarm')).find((a) =>
        JSON.stringify(a).includes('denied / (allowed + denied)'),
      ) as { Properties: Record<string, unknown> } | undefined;
      expect(alarm?.Properties).toMatchObject({ Threshold: 0.5, ComparisonOperator: 'GreaterThanThreshold' });
    });

    it('outputs the proxy URL, client lines, group name, target group, timing and workload subnets', () => {
      const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
      expect(Object.keys(outputs).sort()).toEqual([
        'AutoScalingGroupName',
        'DetectBrokenProxySeconds',
        'DrainBoundSeconds',
        'HttpProxyLine',
        'HttpsProxyLine',
        'NoProxyLine',
        'ProxyUrl',
        'ReplacementInServiceSeconds',
        'TargetGroupArn',
        'WorkloadSubnetIds',
      ]);
      expect(JSON.stringify(outputs.HttpsProxyLine!.Value)).toMatch(/HTTPS_PROXY=http:\/\/.*DNSName.*:3128/);
      expect(outputs.DetectBrokenProxySeconds!.Value).toBe('20');
      expect(outputs.DrainBoundSeconds!.Value).toBe('300');
    });
  });
});
