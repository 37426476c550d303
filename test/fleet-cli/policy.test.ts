/**
 * The policy columns of `fleet status` and the `fleet policy` command: the instances and the
 * sidecars' log lines in moto's server, AppConfig's deployments in the local stand-in (moto 5 has
 * none), the real command line.
 */
import {
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POLICY_TAGS } from '../../lib/policy-tags.js';
import { startAppConfigStandIn, type AppConfigStandIn } from '../support/appconfig.js';
import { findMotoServer, startMoto, type Moto } from '../support/moto.js';
import { clients, createFleet, type Fleet, type TestClients } from './moto.js';
import { buildBundle, removeBundle, runFleet } from './run.js';

const motoServer = findMotoServer();
const LOG_GROUP = 'egress-proxy-fleet-test';
const OLD = 'aaaaaaaaaaaa';
const NEW = 'bbbbbbbbbbbb';

describe.skipIf(!motoServer && !process.env.CI)(
  `fleet policy against moto and the AppConfig stand-in${motoServer ? '' : ' [SKIPPED: moto_server not on PATH]'}`,
  () => {
    let moto: Moto;
    let appConfig: AppConfigStandIn;
    let c: TestClients;
    let fleet: Fleet;

    /** What the sidecar logs (proxy-app/src/sidecar/policy/agent.ts), as rsyslog ships it. */
    const report = async (instanceId: string, version: string): Promise<void> => {
      const stream = `${instanceId}/sidecar`;
      await c.logs
        .send(new CreateLogStreamCommand({ logGroupName: LOG_GROUP, logStreamName: stream }))
        .catch(() => undefined);
      await c.logs.send(
        new PutLogEventsCommand({
          logGroupName: LOG_GROUP,
          logStreamName: stream,
          logEvents: [
            {
              timestamp: Date.now(),
              message: JSON.stringify({
                level: 'info',
                proc: 'sidecar',
                policyVersion: version,
                source: 'appconfig',
                msg: 'policy in force',
              }),
            },
          ],
        }),
      );
    };
    const env = (): Record<string, string> => ({ AWS_ENDPOINT_URL_APPCONFIG: appConfig.url });

    beforeAll(async () => {
      buildBundle();
      moto = await startMoto(motoServer ?? 'moto_server');
      appConfig = await startAppConfigStandIn();
      c = clients(moto.endpoint, appConfig.url);
      fleet = await createFleet(c, 'policy', { min: 2, desired: 3, max: 3 }, 'PolicyStack', [
        { Key: POLICY_TAGS.appConfig, Value: `${appConfig.ids.application}/${appConfig.ids.environment}` },
        { Key: POLICY_TAGS.logGroup, Value: LOG_GROUP },
      ]);
      await c.logs.send(new CreateLogGroupCommand({ logGroupName: LOG_GROUP }));
      appConfig.deploy('{"allow":[]}', `policy-${OLD}`);
      appConfig.deploy('{"allow":["example.com"]}', `policy-${NEW}`);
      const [current, behind] = fleet.instanceIds;
      await report(current!, OLD);
      await report(current!, NEW);
      await report(behind!, OLD);
    }, 60_000);

    afterAll(async () => {
      c?.destroy();
      await Promise.all([moto?.stop(), appConfig?.close()]);
      removeBundle();
    });

    it('shows each instance version and, within the grace period, lets the others catch up (exit 0)', async () => {
      const result = await runFleet(['status', '--stack', 'PolicyStack'], {
        endpoint: moto.endpoint,
        env: env(),
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const [current, behind, silent] = fleet.instanceIds;
      const row = (id: string): string =>
        result.stdout.split('\n').find((line) => line.startsWith(`${id} `))!;
      expect(row(current!)).toMatch(new RegExp(`\\s${NEW}$`));
      expect(row(behind!)).toMatch(new RegExp(`\\s${OLD}$`));
      expect(row(silent!)).toMatch(/\s-$/);
      expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
        `Policy: ${NEW} (AppConfig deployment #2 COMPLETE): 1/3 instances run it, OK`,
      );
    });

    it('flags the instances still on another version past the grace period (exit 4)', async () => {
      const result = await runFleet(['status', '--stack', 'PolicyStack', '--policy-grace', '0', '--json'], {
        endpoint: moto.endpoint,
        env: env(),
      });
      expect(result.status).toBe(4);
      const status = JSON.parse(result.stdout) as {
        policy: { desired: { version: string; deploymentNumber: number }; laggingCount: number };
        instances: { instanceId: string; policyVersion: string | null; policyLagging: boolean }[];
      };
      expect(status.policy).toMatchObject({
        desired: { version: NEW, deploymentNumber: 2 },
        laggingCount: 2,
      });
      const [current, behind, silent] = fleet.instanceIds;
      expect(
        Object.fromEntries(status.instances.map((i) => [i.instanceId, [i.policyVersion, i.policyLagging]])),
      ).toEqual({
        [current!]: [NEW, false],
        [behind!]: [OLD, true],
        [silent!]: [null, true],
      });
    });

    it('`policy --wait` follows the rollout until every instance runs the served version', async () => {
      const [, behind, silent] = fleet.instanceIds;
      let caughtUp: Promise<void> | undefined;
      // The instances catch up once the command has printed its first look, which finds them behind.
      const waiting = runFleet(['policy', '--stack', 'PolicyStack', '--wait', '60'], {
        endpoint: moto.endpoint,
        env: env(),
        onStdout: () => {
          caughtUp ??= Promise.all([report(behind!, NEW), report(silent!, NEW)]).then(() => undefined);
        },
      });
      const result = await waiting;
      await caughtUp;
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      const lines = result.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(
        new RegExp(
          `policy ${NEW} \\(AppConfig deployment #2 COMPLETE\\): 1/3 InService instances run it; waiting for`,
        ),
      );
      expect(lines.at(-1)).toMatch(/3\/3 InService instances run it; in force everywhere$/);
    });

    it('after a rollback, the version served is the previous deployment, and it says so', async () => {
      appConfig.deployments[1]!.state = 'ROLLED_BACK';
      try {
        const result = await runFleet(['status', '--stack', 'PolicyStack', '--policy-grace', '0'], {
          endpoint: moto.endpoint,
          env: env(),
        });
        expect(result.stdout).toContain(
          `warning: AppConfig deployment #2 (policy-${NEW}) is ROLLED_BACK; the fleet is served #1`,
        );
        expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
          `Policy: ${OLD} (AppConfig deployment #1 COMPLETE): 0/3 instances run it, 3 LAGGING`,
        );
        expect(result.status).toBe(4);
      } finally {
        appConfig.deployments[1]!.state = 'COMPLETE';
      }
    });

    it('`policy` on a group without policy distribution says so (exit 3)', async () => {
      const plain = await createFleet(c, 'plain', { min: 1, desired: 1, max: 1 }, 'PlainStack');
      const result = await runFleet(['policy', '--asg', plain.groupName], {
        endpoint: moto.endpoint,
        env: env(),
      });
      expect(result.status).toBe(3);
      expect(result.stderr).toContain('[FLEET_NO_POLICY]');
    });
  },
);
