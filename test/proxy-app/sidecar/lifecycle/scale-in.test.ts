import { EC2Client, RunInstancesCommand, CreateVpcCommand } from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, tunnel } from '../../client.js';
import { run, startProxy, type Fleet, type Running } from '../../harness.js';
import { startTcpOrigin, type TcpOrigin } from '../../origins.js';
import { findMotoServer } from '../../../support/moto.js';
import { startFakeAws, startFakeImds, type FakeAws, type FakeImds } from './stand-ins.js';

const motoServer = findMotoServer();
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const region = 'us-east-1';

/**
 * The termination lifecycle end to end, with the real proxy and sidecar processes: instance
 * metadata and the AWS APIs are local stand-ins, everything else is the product.
 */
describe.skipIf(!motoServer && !process.env.CI)(
  `scale-in with an open tunnel${motoServer ? '' : ' [SKIPPED: moto_server not on PATH]'}`,
  () => {
    let aws: FakeAws;
    let imds: FakeImds;
    let origin: TcpOrigin;
    let fleet: Fleet;
    let sidecar: Running;
    let instanceId: string;
    let targetGroupArn: string;

    beforeAll(async () => {
      aws = await startFakeAws(motoServer ?? 'moto_server');
      const clientOptions = { region, credentials, endpoint: aws.url };
      const ec2 = new EC2Client(clientOptions);
      const elb = new ElasticLoadBalancingV2Client(clientOptions);
      const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.90.0.0/16' }));
      const instances = await ec2.send(
        new RunInstancesCommand({ ImageId: 'ami-12c6146b', MinCount: 1, MaxCount: 1 }),
      );
      instanceId = instances.Instances![0]!.InstanceId!;
      const group = await elb.send(
        new CreateTargetGroupCommand({
          Name: 'egress-proxy',
          Protocol: 'TCP',
          Port: 3128,
          VpcId: vpc.Vpc!.VpcId!,
          TargetType: 'instance',
        }),
      );
      targetGroupArn = group.TargetGroups![0]!.TargetGroupArn!;

      imds = await startFakeImds({
        'instance-id': instanceId,
        'placement/region': region,
        'tags/instance/aws:autoscaling:groupName': 'egress-asg',
      });
      origin = await startTcpOrigin((socket) => {
        socket.on('data', (data) => socket.write(data));
        socket.on('end', () => socket.end());
      });
      fleet = await startProxy({
        allow: ['localhost'],
        allowPorts: [origin.port],
        allowCidrs: ['127.0.0.0/8'],
        timeouts: { drainMs: 20_000 },
        probe: { timeoutMs: 500, cacheMs: 100 },
        lifecycle: {
          enabled: true,
          imdsUrl: imds.url,
          targetGroupArn,
          readySuccesses: 2,
          pollMs: 200,
          heartbeatMs: 1_000,
        },
      });
      // Auto Scaling registers the instance on the proxy port.
      await elb.send(
        new RegisterTargetsCommand({
          TargetGroupArn: targetGroupArn,
          Targets: [{ Id: instanceId, Port: fleet.config.proxy.port }],
        }),
      );
      const registered = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
      expect(registered.TargetHealthDescriptions?.map((t) => t.Target?.Id)).toEqual([instanceId]);
      aws.calls.length = 0;
      sidecar = run('sidecar', fleet.configFile, {
        AWS_ENDPOINT_URL: aws.url,
        AWS_ACCESS_KEY_ID: credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      });
    }, 60_000);

    afterAll(async () => {
      await Promise.all([sidecar?.stop(), fleet?.stop(), origin?.close(), imds?.close(), aws?.close()]);
    });

    /** The sidecar's calls; the test's own Describe* reads pass through the same recorder. */
    const actions = (): string[] =>
      aws.calls.map((call) => call.action).filter((action) => !action.startsWith('Describe'));
    const health = async (): Promise<number> =>
      (
        await exchange(
          fleet.config.health.port,
          'GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        )
      ).status;

    it('launch: completes the launching hook with CONTINUE once local probes pass', async () => {
      await expect.poll(actions, { timeout: 15_000 }).toContain('CompleteLifecycleAction');
      expect(aws.calls[0]!.params).toMatchObject({
        AutoScalingGroupName: 'egress-asg',
        LifecycleHookName: 'egress-proxy-launching',
        InstanceId: instanceId,
        LifecycleActionResult: 'CONTINUE',
      });
    });

    it('termination: deregisters, heartbeats while the tunnel is open, lets it finish, stops the proxy, then CONTINUEs', async () => {
      const socket = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
      socket.resume();
      const echo = (text: string): Promise<string> =>
        new Promise((resolve) => {
          socket.once('data', (data: Buffer) => resolve(data.toString()));
          socket.write(text);
        });
      expect(await echo('before')).toBe('before');

      imds.targetState = 'Terminated';
      await expect.poll(health, { timeout: 5_000 }).toBe(503);
      await expect.poll(actions, { timeout: 10_000 }).toContain('RecordLifecycleActionHeartbeat');
      const elb = new ElasticLoadBalancingV2Client({ region, credentials, endpoint: aws.url });
      const targets = await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn }));
      // moto drops a deregistered target at once (AWS would show it `draining` for the delay).
      expect(targets.TargetHealthDescriptions?.find((t) => t.Target?.Id === instanceId)).toBeUndefined();

      // Draining: the open tunnel still works, and nothing has been completed yet.
      expect(await echo('during the drain')).toBe('during the drain');
      expect(
        aws.calls.filter(
          (call) =>
            call.params.LifecycleHookName === 'egress-proxy-terminating' &&
            call.action === 'CompleteLifecycleAction',
        ),
      ).toEqual([]);

      socket.end();
      expect(await fleet.proxy.exited).toBe(0);
      await expect
        .poll(() => aws.calls.at(-1)?.params.LifecycleHookName, { timeout: 10_000 })
        .toBe('egress-proxy-terminating');

      const sequence = actions().filter((action, i, all) => action !== all[i - 1]);
      expect(sequence).toEqual([
        'CompleteLifecycleAction',
        'DeregisterTargets',
        'RecordLifecycleActionHeartbeat',
        'CompleteLifecycleAction',
      ]);
      expect(aws.calls.at(-1)!.params).toMatchObject({
        LifecycleActionResult: 'CONTINUE',
        InstanceId: instanceId,
      });
      expect(aws.calls.find((call) => call.action === 'DeregisterTargets')!.params).toMatchObject({
        TargetGroupArn: targetGroupArn,
        'Targets.member.1.Id': instanceId,
        'Targets.member.1.Port': String(fleet.config.proxy.port),
      });
      await sidecar.waitForLog((line) => line.msg === 'lifecycle: released for termination');
      expect(imds.unauthorized).toEqual([]);
      expect(imds.tokensIssued).toBeGreaterThanOrEqual(1);
    }, 60_000);
  },
);
