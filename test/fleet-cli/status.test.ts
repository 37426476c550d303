/**
 * The fleet status command against moto's server: real SDK calls, real paging, the real command
 * line. moto reports a registered instance as `healthy`, a stopped one as `unused`
 * (Target.InvalidState) and a deregistered one as absent, which is enough for every row shape.
 */
import {
  EnterStandbyCommand,
  SetDesiredCapacityCommand,
  SetInstanceHealthCommand,
} from '@aws-sdk/client-auto-scaling';
import { paginateDescribeInstances, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { DeregisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherStatus } from '../../fleet-cli/status.js';
import { clients, createFleet, createUser, enforceIam, type Fleet, type TestClients } from './moto.js';
import { findMotoServer, startMoto, type Moto } from '../support/moto.js';
import { buildBundle, removeBundle, runFleet } from './run.js';

const motoServer = findMotoServer();

if (!motoServer) {
  if (process.env['CI']) {
    // In CI a missing moto_server is a broken machine, not a reason to pass quietly.
    it('moto_server is on PATH (required when CI is set)', () => {
      expect.fail('moto_server not on PATH; install moto[server] 5.x');
    });
  } else {
    it.skip('fleet status against moto [SKIPPED: moto_server not on PATH]', () => {});
  }
} else {
  beforeAll(() => buildBundle());
  afterAll(() => removeBundle());

  describe('fleet status against moto', () => {
    let moto: Moto;
    let c: TestClients;
    /** min 2, three instances, all healthy. */
    let healthy: Fleet;
    /** min 3, four instances: one stopped, one deregistered, one in Standby, one marked Unhealthy. */
    let degraded: Fleet;

    beforeAll(async () => {
      moto = await startMoto(motoServer);
      c = clients(moto.endpoint);
      healthy = await createFleet(c, 'green', { min: 2, desired: 3, max: 4 });
      degraded = await createFleet(c, 'red', { min: 3, desired: 4, max: 4 });
      const [stopped, deregistered, standby, asgUnhealthy] = degraded.instanceIds;
      // Standby first: moto re-registers the group's instances then, which a stopped one refuses.
      await c.autoScaling.send(
        new EnterStandbyCommand({
          AutoScalingGroupName: degraded.groupName,
          InstanceIds: [standby!],
          ShouldDecrementDesiredCapacity: false,
        }),
      );
      await c.autoScaling.send(
        new SetInstanceHealthCommand({ InstanceId: asgUnhealthy!, HealthStatus: 'Unhealthy' }),
      );
      await c.ec2.send(new StopInstancesCommand({ InstanceIds: [stopped!] }));
      await c.elbv2.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: degraded.targetGroupArn,
          Targets: [{ Id: deregistered! }],
        }),
      );
    }, 60_000);

    afterAll(async () => {
      c?.destroy();
      await moto?.stop();
    });

    it('prints one row per instance and exits 0 when healthy >= minimum (--stack, npm run fleet)', async () => {
      const result = await runFleet(['status', '--stack', healthy.stackName], {
        via: 'tsx',
        endpoint: moto.endpoint,
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const lines = result.stdout.split('\n');
      expect(lines[0]).toBe(
        `Auto Scaling group ${healthy.groupName} (stack ${healthy.stackName}): min 2, desired 3, max 4`,
      );
      expect(lines[1]).toBe(`Target group ${healthy.targetGroupArn}`);
      expect(lines[3]).toMatch(
        /^INSTANCE\s+AZ\s+LIFECYCLE\s+ASG HEALTH\s+TARGET\s+REASON\s+IMAGE\s+UPTIME\s+POLICY$/,
      );
      const rows = lines.filter((l) => l.startsWith('i-'));
      expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual([...healthy.instanceIds].sort());
      for (const row of rows) {
        expect(row).toMatch(
          new RegExp(
            `^i-\\w+\\s+${healthy.subnetAzs.join('|').replace(/(.+)/, '($1)')}\\s+InService\\s+Healthy\\s+healthy\\s+-\\s+${healthy.imageId}\\s+\\d+[smhd]`,
          ),
        );
      }
      expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
        'Healthy: 3/2 (InService and target healthy / group minimum) OK',
      );
    });

    it('prints JSON with the same facts (--asg --target-group --json, the bundle)', async () => {
      const result = await runFleet(
        ['status', '--asg', healthy.groupName, '--target-group', healthy.targetGroupArn, '--json'],
        { endpoint: moto.endpoint },
      );
      expect(result.status).toBe(0);
      const status = JSON.parse(result.stdout) as Record<string, unknown> & {
        instances: Record<string, unknown>[];
      };
      expect(status).toMatchObject({
        stackName: null,
        groupName: healthy.groupName,
        minSize: 2,
        desiredCapacity: 3,
        maxSize: 4,
        targetGroupArn: healthy.targetGroupArn,
        healthyCount: 3,
        belowMinimum: false,
        warnings: [],
      });
      expect(status.instances).toHaveLength(3);
      for (const row of status.instances) {
        expect(row).toEqual({
          instanceId: expect.stringMatching(/^i-/),
          availabilityZone: expect.stringMatching(/^us-east-1[ab]$/),
          lifecycleState: 'InService',
          asgHealth: 'Healthy',
          targetState: 'healthy',
          targetReason: null,
          targetDescription: null,
          imageId: healthy.imageId,
          launchTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          uptimeSeconds: expect.any(Number),
          healthy: true,
          // A group without the stack's policy tags has no policy distribution to report.
          policyVersion: null,
          policyLagging: false,
        });
      }
    });

    it('shows why each instance is not counted and exits 1 below the minimum', async () => {
      const [stopped, deregistered, standby, asgUnhealthy] = degraded.instanceIds;
      const result = await runFleet(['status', '--stack', degraded.stackName], { endpoint: moto.endpoint });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(1);
      const row = (id: string | undefined): string =>
        result.stdout.split('\n').find((l) => l.startsWith(`${id} `))!;
      expect(row(stopped)).toMatch(
        /InService\s+Healthy\s+unused\s+Target\.InvalidState: Target is in the stopped state\s/,
      );
      expect(row(deregistered)).toMatch(
        /InService\s+Healthy\s+unregistered\s+not registered in the target group\s/,
      );
      expect(row(standby)).toMatch(/\sStandby\s+Healthy\s+healthy\s/);
      // ASG health does not gate: the target still serves, and the group will replace it on its own.
      expect(row(asgUnhealthy)).toMatch(/InService\s+Unhealthy\s+healthy\s/);
      // moto, like AWS, launched a replacement for the Standby instance (capacity not decremented).
      const rows = result.stdout.split('\n').filter((l) => l.startsWith('i-'));
      expect(rows).toHaveLength(5);
      const replacement = rows.find((r) => !degraded.instanceIds.includes(r.split(' ')[0]!))!;
      expect(replacement).toMatch(/InService\s+Healthy\s+healthy\s/);
      expect(result.stdout).toContain(
        'Healthy: 2/3 (InService and target healthy / group minimum) BELOW MINIMUM',
      );

      const json = await runFleet(['status', '--stack', degraded.stackName, '--json'], {
        endpoint: moto.endpoint,
      });
      expect(json.status).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ healthyCount: 2, minSize: 3, belowMinimum: true });
    });

    it('exits 3 for an unknown group, stack or target group, and says what to check', async () => {
      const group = await runFleet(['status', '--asg', 'no-such-group'], { endpoint: moto.endpoint });
      expect(group.status).toBe(3);
      expect(group.stderr).toContain('Auto Scaling group no-such-group not found [FLEET_GROUP_NOT_FOUND]');
      expect(group.stdout).toBe('');

      const stack = await runFleet(['status', '--stack', 'no-such-stack', '--json'], {
        endpoint: moto.endpoint,
      });
      expect(stack.status).toBe(3);
      expect(JSON.parse(stack.stdout)).toMatchObject({
        error: {
          code: 'FLEET_GROUP_NOT_FOUND',
          exitStatus: 3,
          call: 'autoscaling:DescribeAutoScalingGroups',
        },
      });

      const missingTg = healthy.targetGroupArn.replace(/targetgroup\/[^/]+\//, 'targetgroup/gone/');
      const tg = await runFleet(['status', '--asg', healthy.groupName, '--target-group', missingTg], {
        endpoint: moto.endpoint,
      });
      expect(tg.status).toBe(3);
      expect(tg.stderr).toMatch(
        /elasticloadbalancing:DescribeTargetHealth: target group not found: .*\[FLEET_TARGET_GROUP_NOT_FOUND\]/,
      );
    });

    it("warns when the target group given is not the group's own, and still answers", async () => {
      const result = await runFleet(
        ['status', '--asg', healthy.groupName, '--target-group', degraded.targetGroupArn],
        {
          endpoint: moto.endpoint,
        },
      );
      expect(result.stdout).toContain(
        `warning: target group ${degraded.targetGroupArn} is not attached to Auto Scaling group ${healthy.groupName}`,
      );
      // None of this group's instances is a target there, so none counts.
      expect(result.stdout).toContain('Healthy: 0/2');
      expect(result.status).toBe(1);
    });

    it('pages through DescribeAutoScalingGroups and DescribeInstances', async () => {
      // A second reservation, so DescribeInstances has more than one page at page size 1.
      await c.autoScaling.send(
        new SetDesiredCapacityCommand({ AutoScalingGroupName: healthy.groupName, DesiredCapacity: 4 }),
      );
      const reservationsPerPage: number[] = [];
      for await (const page of paginateDescribeInstances(
        { client: c.ec2, pageSize: 1 },
        { Filters: [{ Name: 'tag:aws:autoscaling:groupName', Values: [healthy.groupName] }] },
      )) {
        reservationsPerPage.push(page.Reservations?.length ?? 0);
      }
      expect(
        reservationsPerPage.length,
        'precondition: the instances span more than one page',
      ).toBeGreaterThan(1);
      // Status derives uptime from `now`; fix it so the two answers compare equal.
      const now = new Date();
      const paged = await gatherStatus(c, { asg: healthy.groupName }, { now, pageSize: 1 });
      const whole = await gatherStatus(c, { asg: healthy.groupName }, { now });
      expect(paged.instances).toHaveLength(4);
      expect(paged.instances.every((i) => i.imageId === healthy.imageId)).toBe(true);
      expect(paged).toEqual(whole);

      // Two groups in one stack: only by reading the second page can the error name both.
      const one = await createFleet(c, 'twin1', { min: 1, desired: 1, max: 1 }, 'twins');
      const two = await createFleet(c, 'twin2', { min: 1, desired: 1, max: 1 }, 'twins');
      await expect(gatherStatus(c, { stack: 'twins' }, { pageSize: 1 })).rejects.toMatchObject({
        code: 'FLEET_AMBIGUOUS',
        exitStatus: 2,
        message: `stack twins has 2 Auto Scaling groups: ${one.groupName}, ${two.groupName}`,
      });
    });

    it('computes uptime from the EC2 launch time', async () => {
      const status = await gatherStatus(c, { stack: healthy.stackName });
      const first = status.instances[0]!;
      const later = new Date(Date.parse(first.launchTime!) + 3_725_000);
      const again = await gatherStatus(c, { stack: healthy.stackName }, { now: later });
      expect(again.instances.find((i) => i.instanceId === first.instanceId)!.uptimeSeconds).toBe(3_725);
    });
  });

  // A moto of its own: switching IAM enforcement on is global to the server.
  describe('fleet status with IAM enforced (moto)', () => {
    let moto: Moto;
    let fleet: Fleet;
    let documented: { accessKeyId: string; secretAccessKey: string };
    let withoutEc2: { accessKeyId: string; secretAccessKey: string };

    beforeAll(async () => {
      moto = await startMoto(motoServer);
      const c = clients(moto.endpoint);
      fleet = await createFleet(c, 'iam', { min: 1, desired: 2, max: 2 });
      c.destroy();
      // The policy exactly as docs/fleet-status.md gives it, so the docs cannot drift from the calls.
      const docs = readFileSync(
        fileURLToPath(new URL('../../docs/fleet-status.md', import.meta.url)),
        'utf8',
      );
      const policy = JSON.parse(/## IAM permissions[\s\S]*?```json\n([\s\S]*?)```/.exec(docs)![1]!) as {
        Statement: { Action: string[] }[];
      };
      documented = await createUser(moto.endpoint, 'documented', policy);
      const partial = structuredClone(policy);
      partial.Statement[0]!.Action = partial.Statement[0]!.Action.filter(
        (a) => a !== 'ec2:DescribeInstances',
      );
      withoutEc2 = await createUser(moto.endpoint, 'without-ec2', partial);
      await enforceIam(moto.endpoint);
    }, 60_000);

    afterAll(async () => {
      await moto?.stop();
    });

    const as = (key: { accessKeyId: string; secretAccessKey: string }) => ({
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
    });

    it('works with exactly the documented permissions', async () => {
      const result = await runFleet(['status', '--stack', fleet.stackName], {
        endpoint: moto.endpoint,
        env: as(documented),
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('Healthy: 2/1');
    });

    it('names the denied call and the permission to add, without retrying (exit 3)', async () => {
      const result = await runFleet(['status', '--stack', fleet.stackName, '--json'], {
        endpoint: moto.endpoint,
        env: as(withoutEc2),
      });
      expect(result.status).toBe(3);
      expect(result.stderr).toMatch(
        /^egress-proxy-fleet: ec2:DescribeInstances was denied: .*not authorized to perform: ec2:DescribeInstances \[FLEET_AWS_ACCESS_DENIED\]$/m,
      );
      expect(result.stderr).toContain('what to do: allow ec2:DescribeInstances for the caller');
      expect(JSON.parse(result.stdout)).toMatchObject({
        error: { code: 'FLEET_AWS_ACCESS_DENIED', call: 'ec2:DescribeInstances', attempts: 1, exitStatus: 3 },
      });
    });

    it('reports rejected credentials (exit 3)', async () => {
      const result = await runFleet(['status', '--stack', fleet.stackName], { endpoint: moto.endpoint });
      expect(result.status).toBe(3);
      expect(result.stderr).toMatch(
        /^egress-proxy-fleet: autoscaling:DescribeAutoScalingGroups: credentials missing or rejected: .* \[FLEET_AWS_CREDENTIALS\]$/m,
      );
    });
  });
}
