/** `status --workload-subnets` against moto's EC2: route tables as an imported VPC might have them. */
import {
  AssociateRouteTableCommand,
  AttachInternetGatewayCommand,
  CreateInternetGatewayCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
} from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findMotoServer, startMoto, type Moto } from '../support/moto.js';
import { clients, createFleet, REGION, type Fleet, type TestClients } from './moto.js';
import { buildBundle, removeBundle, runFleet } from './run.js';

const motoServer = findMotoServer();

describe.skipIf(!motoServer && !process.env.CI)(
  `status --workload-subnets against moto${motoServer ? '' : ' [SKIPPED: moto_server not on PATH]'}`,
  () => {
    let moto: Moto;
    let c: TestClients;
    let fleet: Fleet;
    const subnets: Record<'throughIgw' | 'isolated' | 'onMain', string> = {
      throughIgw: '',
      isolated: '',
      onMain: '',
    };
    let igw: string;

    beforeAll(async () => {
      buildBundle();
      moto = await startMoto(motoServer ?? 'moto_server');
      c = clients(moto.endpoint);
      fleet = await createFleet(c, 'routes', { min: 1, desired: 1, max: 1 }, 'RoutesStack');
      // The fleet's VPC (10.0.0.0/16), not moto's default one.
      const vpcId = (
        await c.ec2.send(
          new DescribeSubnetsCommand({ Filters: [{ Name: 'cidr-block', Values: ['10.0.0.0/24'] }] }),
        )
      ).Subnets![0]!.VpcId!;
      const subnet = async (cidr: string): Promise<string> =>
        (
          await c.ec2.send(
            new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: cidr, AvailabilityZone: `${REGION}a` }),
          )
        ).Subnet!.SubnetId!;
      subnets.throughIgw = await subnet('10.0.10.0/24');
      subnets.isolated = await subnet('10.0.11.0/24');
      subnets.onMain = await subnet('10.0.12.0/24');
      igw = (await c.ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!.InternetGatewayId!;
      await c.ec2.send(new AttachInternetGatewayCommand({ InternetGatewayId: igw, VpcId: vpcId }));
      const table = async (): Promise<string> =>
        (await c.ec2.send(new CreateRouteTableCommand({ VpcId: vpcId }))).RouteTable!.RouteTableId!;
      const open = await table();
      await c.ec2.send(
        new CreateRouteCommand({ RouteTableId: open, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }),
      );
      await c.ec2.send(new AssociateRouteTableCommand({ RouteTableId: open, SubnetId: subnets.throughIgw }));
      await c.ec2.send(
        new AssociateRouteTableCommand({ RouteTableId: await table(), SubnetId: subnets.isolated }),
      );
      // The main table (used by subnets without an association of their own) gets a way out too.
      const main = (
        await c.ec2.send(
          new DescribeRouteTablesCommand({
            Filters: [
              { Name: 'vpc-id', Values: [vpcId] },
              { Name: 'association.main', Values: ['true'] },
            ],
          }),
        )
      ).RouteTables![0]!.RouteTableId!;
      await c.ec2.send(
        new CreateRouteCommand({ RouteTableId: main, DestinationCidrBlock: '0.0.0.0/0', GatewayId: igw }),
      );
    }, 60_000);

    afterAll(async () => {
      c?.destroy();
      await moto?.stop();
      removeBundle();
    });

    it('warns about each workload subnet that routes out without the proxy, and only those', async () => {
      const result = await runFleet(
        ['status', '--stack', fleet.stackName, '--workload-subnets', Object.values(subnets).join(',')],
        { endpoint: moto.endpoint },
      );
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const warnings = result.stdout
        .split('\n')
        .filter((line) => line.startsWith('warning: workload subnet'));
      expect(warnings).toEqual([
        expect.stringMatching(
          new RegExp(
            `^warning: workload subnet ${subnets.throughIgw} routes 0\\.0\\.0\\.0/0 -> ${igw} \\(route table rtb-\\w+\\): workloads there can bypass the proxy$`,
          ),
        ),
        expect.stringMatching(
          new RegExp(`^warning: workload subnet ${subnets.onMain} routes 0\\.0\\.0\\.0/0 -> ${igw} `),
        ),
      ]);
    });

    it('refuses what is not a subnet id (exit 2)', async () => {
      const result = await runFleet(
        ['status', '--stack', fleet.stackName, '--workload-subnets', 'subnet-1,sg-2'],
        {
          endpoint: moto.endpoint,
        },
      );
      expect(result.status).toBe(2);
      expect(result.stderr).toContain(
        "--workload-subnets takes subnet ids (subnet-...), comma-separated; got 'subnet-1'",
      );
    });
  },
);
