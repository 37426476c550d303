import { Annotations, CfnOutput, Fn, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { Construct } from 'constructs';
import { EgressProxyValidationError } from './errors.js';

/** The subnet group workloads go in: no route out of the VPC, so the proxy is the only way out. */
export const WORKLOAD_SUBNET_GROUP = 'workload';

export interface EgressVpcProps {
  readonly cidr: string;
  readonly natGateways: number;
}

/**
 * The stack's own VPC in two AZs: public subnets (NAT gateways), the proxy's subnets with a
 * default route to NAT (group name `private`, kept so existing deployments keep their subnets), and
 * workload subnets with no route out at all (PRIVATE_ISOLATED: only the VPC's local route and
 * whatever endpoints are added). Rejected flows are logged.
 */
export function createEgressVpc(scope: Construct, id: string, props: EgressVpcProps): ec2.Vpc {
  const vpc = new ec2.Vpc(scope, id, {
    ipAddresses: ec2.IpAddresses.cidr(props.cidr),
    maxAzs: 2,
    natGateways: props.natGateways,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      { name: WORKLOAD_SUBNET_GROUP, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 20 },
    ],
  });
  // Rejected flows only: evidence of blocked traffic without paying for every accepted flow.
  vpc.addFlowLog('FlowLog', { trafficType: ec2.FlowLogTrafficType.REJECT });
  new CfnOutput(scope, 'WorkloadSubnetIds', {
    value: Fn.join(',', workloadSubnets(vpc).subnetIds),
    description: 'Subnets for workloads: no route to the internet; the proxy is their only way out',
  });
  return vpc;
}

/** The workload subnets of a VPC made by `createEgressVpc`. */
export function workloadSubnets(vpc: ec2.IVpc): ec2.SelectedSubnets {
  return vpc.selectSubnets({ subnetGroupName: WORKLOAD_SUBNET_GROUP });
}

/** An imported VPC's routes are the owner's: say at synth what the stack cannot enforce there. */
export function warnImportedVpc(scope: Construct, vpcId: string): void {
  Annotations.of(Stack.of(scope)).addWarningV2(
    'egress-proxy:imported-vpc-routes',
    `vpcId ${vpcId} is imported: workloads can go around the proxy wherever their subnets route 0.0.0.0/0 (or ::/0) to a NAT or internet gateway. Remove those routes from the workload subnets (docs/deploy.md, "An imported VPC"), then check with: egress-proxy-fleet status --stack ${Stack.of(scope).stackName} --workload-subnets subnet-a,subnet-b`,
  );
}

export interface AdmitOptions {
  /**
   * Make the proxy the group's way out: the group must not allow all outbound traffic (create it
   * with `allowAllOutbound: false`), and gets egress to the proxy port of the load balancer. Other
   * egress it needs (VPC endpoints, in-VPC services) is added by its owner as usual.
   * @default false - only the proxy port is opened (ingress on the load balancer, and egress on
   * the group when it does not allow all outbound anyway)
   */
  readonly restrictEgress?: boolean;
}

/**
 * Lets the workloads of `workload` use the proxy: ingress on the load balancer's group on the proxy
 * port from `workload`, and the matching egress rule on `workload`.
 */
export function admitWorkload(
  scope: Construct,
  proxy: ec2.Connections,
  workload: ec2.ISecurityGroup,
  options: AdmitOptions = {},
): void {
  if (options.restrictEgress && workload.allowAllOutbound) {
    throw new EgressProxyValidationError(
      'admit',
      `(${workload.node.path}) cannot restrict egress to the proxy: the group allows all outbound traffic; create it with allowAllOutbound: false`,
      scope,
    );
  }
  proxy.allowDefaultPortFrom(workload, 'Egress proxy clients');
}
