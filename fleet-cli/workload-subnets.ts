/**
 * `status --workload-subnets`: for an imported VPC, whose routes the stack does not manage, which of
 * the given workload subnets can still reach the internet without the proxy: a default route
 * (0.0.0.0/0 or ::/0) in the route table the subnet uses (its own association, else the VPC's main
 * table) to anything but a blackhole.
 */
import {
  paginateDescribeRouteTables,
  paginateDescribeSubnets,
  type EC2Client,
  type RouteTable,
} from '@aws-sdk/client-ec2';

export interface WorkloadSubnet {
  readonly subnetId: string;
  readonly routeTableId: string | null;
  /** `0.0.0.0/0 -> nat-...` for each default route that leads out; empty when the proxy is the only way. */
  readonly routesOut: readonly string[];
}

type Call = <T>(
  action: 'ec2:DescribeSubnets' | 'ec2:DescribeRouteTables',
  run: () => Promise<T>,
) => Promise<T>;

export async function checkWorkloadSubnets(
  client: EC2Client,
  subnetIds: readonly string[],
  call: Call,
): Promise<WorkloadSubnet[]> {
  const vpcOf = new Map<string, string>();
  await call('ec2:DescribeSubnets', async () => {
    for await (const page of paginateDescribeSubnets({ client }, { SubnetIds: [...subnetIds] })) {
      for (const subnet of page.Subnets ?? []) vpcOf.set(subnet.SubnetId!, subnet.VpcId!);
    }
  });
  const tables: RouteTable[] = [];
  await call('ec2:DescribeRouteTables', async () => {
    const vpcs = [...new Set(vpcOf.values())];
    for await (const page of paginateDescribeRouteTables(
      { client },
      { Filters: [{ Name: 'vpc-id', Values: vpcs }] },
    )) {
      tables.push(...(page.RouteTables ?? []));
    }
  });
  return subnetIds.map((subnetId) => {
    const own = tables.find((t) => t.Associations?.some((a) => a.SubnetId === subnetId));
    const main = tables.find((t) => t.VpcId === vpcOf.get(subnetId) && t.Associations?.some((a) => a.Main));
    const table = own ?? main;
    return {
      subnetId,
      routeTableId: table?.RouteTableId ?? null,
      routesOut: (table?.Routes ?? [])
        .filter(
          (r) =>
            (r.DestinationCidrBlock === '0.0.0.0/0' || r.DestinationIpv6CidrBlock === '::/0') &&
            r.State !== 'blackhole',
        )
        .map((r) => {
          const target =
            r.NatGatewayId ??
            r.GatewayId ??
            r.TransitGatewayId ??
            r.EgressOnlyInternetGatewayId ??
            r.NetworkInterfaceId ??
            r.VpcPeeringConnectionId ??
            r.CarrierGatewayId ??
            r.LocalGatewayId ??
            'unknown target';
          return `${r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock} -> ${target}`;
        }),
    };
  });
}
