import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { describe, expect, it } from 'vitest';
import { EgressProxyStack } from '../../lib/egress-proxy-stack.js';
import { settingsFromContext } from '../../lib/settings.js';
import { BASE_CONTEXT, buildApp, fixtureBundleDirectory } from './helpers.js';

const { stack } = buildApp();
const template = Template.fromStack(stack);
const json = template.toJSON() as {
  Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
};
const ofType = (type: string) => Object.entries(json.Resources).filter(([, r]) => r.Type === type);

/** Subnet logical ids by the subnet group CDK tags them with. */
const subnetsOf = (group: string): string[] =>
  ofType('AWS::EC2::Subnet')
    .filter(([, r]) =>
      JSON.stringify(r.Properties.Tags).includes(`{"Key":"aws-cdk:subnet-name","Value":"${group}"}`),
    )
    .map(([id]) => id);
/** Route tables associated with the given subnets. */
const routeTablesOf = (subnets: string[]): string[] =>
  ofType('AWS::EC2::SubnetRouteTableAssociation')
    .filter(([, r]) => subnets.includes((r.Properties.SubnetId as { Ref: string }).Ref))
    .map(([, r]) => (r.Properties.RouteTableId as { Ref: string }).Ref);
const defaultRoutesIn = (tables: string[]) =>
  ofType('AWS::EC2::Route').filter(
    ([, r]) =>
      tables.includes((r.Properties.RouteTableId as { Ref: string }).Ref) &&
      (r.Properties.DestinationCidrBlock === '0.0.0.0/0' || r.Properties.DestinationIpv6CidrBlock === '::/0'),
  );

describe('the new VPC', () => {
  it('gives workload subnets in two AZs no default route: no NAT, no internet gateway', () => {
    const workload = subnetsOf('workload');
    expect(workload).toHaveLength(2);
    const tables = routeTablesOf(workload);
    expect(tables).toHaveLength(2);
    expect(defaultRoutesIn(tables)).toEqual([]);
    // Nor any other route: only the VPC's implicit local route.
    expect(
      ofType('AWS::EC2::Route').filter(([, r]) =>
        tables.includes((r.Properties.RouteTableId as { Ref: string }).Ref),
      ),
    ).toEqual([]);
  });

  it("routes the proxy's subnets to NAT: the proxy is the workloads' way out", () => {
    const proxy = subnetsOf('private');
    const routes = defaultRoutesIn(routeTablesOf(proxy));
    expect(routes).toHaveLength(2);
    for (const [, route] of routes) expect(route.Properties.NatGatewayId).toBeDefined();
    template.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      VPCZoneIdentifier: Match.arrayWith(proxy.map((id) => ({ Ref: id }))),
    });
  });

  it('names the workload subnets in an output', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.WorkloadSubnetIds!.Value).toEqual({
      'Fn::Join': [',', subnetsOf('workload').map((id) => ({ Ref: id }))],
    });
  });
});

describe('fleet.admit', () => {
  const fresh = () => {
    const app = new App({ context: BASE_CONTEXT });
    const proxyStack = new EgressProxyStack(app, 'EgressProxy', {
      settings: settingsFromContext(app.node),
      bundleDirectory: fixtureBundleDirectory(),
    });
    return proxyStack;
  };

  it("opens the proxy port from the workload's group, whose only egress is the proxy", () => {
    const proxyStack = fresh();
    const workload = new ec2.SecurityGroup(proxyStack, 'Workload', {
      vpc: proxyStack.vpc,
      allowAllOutbound: false,
    });
    proxyStack.fleet.admit(workload, { restrictEgress: true });
    const t = Template.fromStack(proxyStack);
    const workloadId = proxyStack.getLogicalId(workload.node.defaultChild as ec2.CfnSecurityGroup);
    const lbGroup = Object.keys(t.findResources('AWS::EC2::SecurityGroup')).find((id) =>
      id.startsWith('FleetLoadBalancerSecurityGroup'),
    )!;
    t.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      GroupId: { 'Fn::GetAtt': [lbGroup, 'GroupId'] },
      SourceSecurityGroupId: { 'Fn::GetAtt': [workloadId, 'GroupId'] },
      FromPort: 3128,
      ToPort: 3128,
    });
    const egress = Object.values(t.findResources('AWS::EC2::SecurityGroupEgress')).filter((r) =>
      JSON.stringify(r).includes(`"GroupId":{"Fn::GetAtt":["${workloadId}","GroupId"]}`),
    );
    expect(egress.map((r) => (r as { Properties: unknown }).Properties)).toEqual([
      expect.objectContaining({
        DestinationSecurityGroupId: { 'Fn::GetAtt': [lbGroup, 'GroupId'] },
        FromPort: 3128,
        ToPort: 3128,
      }),
    ]);
    // No allow-all egress on the group itself.
    const group = t.findResources('AWS::EC2::SecurityGroup')[workloadId] as {
      Properties: Record<string, unknown>;
    };
    expect(JSON.stringify(group.Properties.SecurityGroupEgress ?? [])).not.toContain('0.0.0.0/0');
  });

  it('refuses to restrict a group that allows all outbound traffic, and says how to fix it', () => {
    const proxyStack = fresh();
    const open = new ec2.SecurityGroup(proxyStack, 'Open', { vpc: proxyStack.vpc });
    expect(() => proxyStack.fleet.admit(open, { restrictEgress: true })).toThrow(
      /admit \(EgressProxy\/Open\) cannot restrict egress to the proxy: the group allows all outbound traffic; create it with allowAllOutbound: false/,
    );
  });
});

describe('an imported VPC', () => {
  it("warns at synth that workload routes are the owner's to remove", () => {
    const app = new App({
      context: {
        ...BASE_CONTEXT,
        'egressProxy:vpcId': 'vpc-0123456789abcdef0',
        // What `cdk synth` would have cached from the lookup.
        'vpc-provider:account=111111111111:filter.vpc-id=vpc-0123456789abcdef0:region=eu-west-1:returnAsymmetricSubnets=true':
          {
            vpcId: 'vpc-0123456789abcdef0',
            vpcCidrBlock: '10.0.0.0/16',
            ownerAccountId: '111111111111',
            availabilityZones: [],
            subnetGroups: [
              {
                name: 'Private',
                type: 'Private',
                subnets: [
                  {
                    subnetId: 'subnet-a',
                    cidr: '10.0.0.0/24',
                    availabilityZone: 'eu-west-1a',
                    routeTableId: 'rtb-a',
                  },
                  {
                    subnetId: 'subnet-b',
                    cidr: '10.0.1.0/24',
                    availabilityZone: 'eu-west-1b',
                    routeTableId: 'rtb-b',
                  },
                ],
              },
            ],
          },
      },
    });
    const imported = new EgressProxyStack(app, 'EgressProxy', {
      settings: settingsFromContext(app.node),
      bundleDirectory: fixtureBundleDirectory(),
      env: { account: '111111111111', region: 'eu-west-1' },
    });
    Annotations.fromStack(imported).hasWarning(
      '/EgressProxy',
      Match.stringLikeRegexp('vpcId vpc-0123456789abcdef0 is imported: workloads can go around the proxy'),
    );
    expect(Stack.of(imported).resolve(imported.vpc.vpcId)).toBe('vpc-0123456789abcdef0');
  });
});
