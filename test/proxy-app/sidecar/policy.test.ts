import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { policyVersion } from '../../../proxy-app/src/policy/version.js';
import { startAppConfigStandIn, type AppConfigStandIn } from '../../support/appconfig.js';
import { findMotoServer, startMoto, type Moto } from '../../support/moto.js';
import { dial, exchange, readResponse, tunnel } from '../client.js';
import { run, startProxy, type Fleet, type Running } from '../harness.js';
import { startHttpOrigin, startTcpOrigin, type HttpOrigin, type TcpOrigin } from '../origins.js';
import { startFakeAws, startFakeImds } from './lifecycle/stand-ins.js';

const motoServer = findMotoServer();
const region = 'us-east-1';
const BOOT_PARAMETER = '/egress-proxy/test/boot-policy';
/** What the stand-in asks for between polls; the agent must follow it. */
const POLL_SECONDS = 1;
/** "Within the poll interval plus a few seconds": the rollout bound the product promises. */
const ROLLOUT_MS = POLL_SECONDS * 1000 + 5_000;

interface Answer {
  status: number;
  body: {
    status: string;
    policyVersion: string | null;
    policy?: { source: string | null; label: string | null; problem: { code: string } | null };
  };
}

/**
 * The sidecar's policy agent with the real proxy and sidecar processes: AppConfig's data plane is
 * a local stand-in (test/support/appconfig.ts), SSM is moto's server, everything else is the product.
 */
describe.skipIf(!motoServer && !process.env.CI)(
  `policy agent${motoServer ? '' : ' [SKIPPED: moto_server not on PATH]'}`,
  () => {
    let moto: Moto;
    let appConfig: AppConfigStandIn;
    let origin: HttpOrigin;
    let echo: TcpOrigin;
    const stops: (() => Promise<unknown>)[] = [];

    beforeAll(async () => {
      moto = await startMoto(motoServer ?? 'moto_server');
      origin = await startHttpOrigin();
      echo = await startTcpOrigin((socket) => {
        socket.on('data', (data) => socket.write(data));
        socket.on('end', () => socket.end());
      });
    });
    afterEach(async () => {
      await Promise.all(stops.splice(0).map((stop) => stop()));
      await appConfig?.close();
    });
    afterAll(async () => {
      await Promise.all([moto?.stop(), origin?.close(), echo?.close()]);
    });

    /** A policy allowing the two local origins (by name, and loopback through allowCidrs). */
    const policyFor = (
      ...ports: number[]
    ): { allow: string[]; allowPorts: number[]; allowCidrs: string[] } => ({
      allow: ['localhost'],
      allowPorts: ports,
      allowCidrs: ['127.0.0.0/8'],
    });

    async function startInstance(
      extra: { lifecycle?: Record<string, unknown>; env?: Record<string, string> } = {},
    ): Promise<{ fleet: Fleet; sidecar: Running; policyFile: string }> {
      const policyFile = join(mkdtempSync(join(tmpdir(), 'egress-policy-')), 'policy.json');
      // As the CDK app writes it: no allowlist of its own, the policy by reference only.
      const fleet = await startProxy({
        allow: [],
        probe: { timeoutMs: 1_000, cacheMs: 200 },
        policy: {
          file: policyFile,
          appConfig: { ...appConfig.ids, pollIntervalSeconds: 15 },
          bootParameter: BOOT_PARAMETER,
          bootWaitMs: 2_000,
          region,
        },
        ...(extra.lifecycle ? { lifecycle: extra.lifecycle } : {}),
      });
      const sidecar = run('sidecar', fleet.configFile, {
        AWS_ENDPOINT_URL_APPCONFIGDATA: appConfig.url,
        AWS_ENDPOINT_URL_SSM: moto.endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        ...extra.env,
      });
      stops.push(
        () => sidecar.stop(),
        () => fleet.stop(),
      );
      await sidecar.waitForLog((line) => line.msg === 'sidecar listening');
      return { fleet, sidecar, policyFile };
    }

    const ask = async (fleet: Fleet, path = '/healthcheck'): Promise<Answer> => {
      const response = await exchange(
        fleet.config.health.port,
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      );
      return { status: response.status, body: JSON.parse(response.body) as Answer['body'] };
    };
    const inForce = async (fleet: Fleet): Promise<string | null> =>
      (await ask(fleet, '/livez')).body.policyVersion;
    const connect = async (fleet: Fleet, port: number): Promise<number> =>
      (await exchange(fleet.config.proxy.port, `CONNECT localhost:${port} HTTP/1.1\r\n\r\n`)).status;

    it('applies the deployed policy, then each new version within the poll interval, keeping tunnels and kept-alive connections', async () => {
      appConfig = await startAppConfigStandIn({ pollSeconds: POLL_SECONDS });
      const first = policyFor(origin.port);
      appConfig.deploy(JSON.stringify(first), 'policy-first');
      const { fleet, sidecar, policyFile } = await startInstance();
      await expect.poll(() => inForce(fleet), { timeout: ROLLOUT_MS }).toBe(policyVersion(first));
      expect(appConfig.sessions[0]).toMatchObject({
        ApplicationIdentifier: appConfig.ids.application,
        RequiredMinimumPollIntervalInSeconds: 15,
      });
      const healthy = await ask(fleet);
      expect(healthy.status).toBe(200);
      expect(healthy.body.policy).toMatchObject({
        source: 'appconfig',
        label: 'policy-first',
        problem: null,
      });
      expect(JSON.parse(readFileSync(policyFile, 'utf8'))).toEqual(first);
      expect(await connect(fleet, echo.port)).toBe(403);

      // Traffic that must outlive the rollout: a tunnel and a kept-alive forwarding connection.
      const held = await tunnel(fleet.config.proxy.port, `localhost:${origin.port}`);
      const keptAlive = await dial(fleet.config.proxy.port);
      const get = async (socket: Socket): Promise<number> => {
        socket.write(
          `GET http://localhost:${origin.port}/kept HTTP/1.1\r\nHost: localhost:${origin.port}\r\n\r\n`,
        );
        return (await readResponse(socket)).status;
      };
      expect(await get(keptAlive)).toBe(200);

      const second = policyFor(origin.port, echo.port);
      appConfig.deploy(JSON.stringify(second), 'policy-second');
      await expect
        .poll(() => inForce(fleet), { timeout: ROLLOUT_MS, interval: 100 })
        .toBe(policyVersion(second));
      expect(await connect(fleet, echo.port)).toBe(200);
      expect(await get(keptAlive)).toBe(200);
      held.write(`GET /tunnelled HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      held.resume();
      expect((await readResponse(held)).status).toBe(200);
      const applied = await sidecar.waitForLog(
        (line) => line.msg === 'policy applied' && line.label === 'policy-second',
      );
      expect(applied).toMatchObject({ policyVersion: policyVersion(second), previous: policyVersion(first) });
      await sidecar.waitForLog(
        (line) => line.msg === 'policy in force' && line.policyVersion === policyVersion(second),
      );
      held.destroy();
      keptAlive.destroy();
    });

    it('never applies an invalid policy, reports it in /healthcheck without failing it, and applies the next valid one', async () => {
      appConfig = await startAppConfigStandIn({ pollSeconds: POLL_SECONDS });
      const good = policyFor(origin.port);
      appConfig.deploy(JSON.stringify(good));
      const { fleet, sidecar, policyFile } = await startInstance();
      await expect.poll(() => inForce(fleet), { timeout: ROLLOUT_MS }).toBe(policyVersion(good));

      // Passes a JSON Schema check but not the proxy's: bits set after the prefix length.
      for (const invalid of [
        '{"allow": ["*.com"]}',
        'not json',
        JSON.stringify({ ...good, allowCidrs: ['127.0.0.1/8'] }),
      ]) {
        const before = sidecar.logs.length;
        appConfig.deploy(invalid);
        await sidecar.waitForLog(
          (line) => sidecar.logs.indexOf(line) >= before && line.code === 'EGRESS_POLICY_INVALID',
          ROLLOUT_MS,
        );
        const answer = await ask(fleet);
        expect(answer.status).toBe(200);
        expect(answer.body.policyVersion).toBe(policyVersion(good));
        expect(answer.body.policy?.problem?.code).toBe('EGRESS_POLICY_INVALID');
        expect(JSON.parse(readFileSync(policyFile, 'utf8'))).toEqual(good);
      }
      // One reload in all (the primary's line): the invalid documents never reached the proxy.
      const reloads = fleet.proxy.logs.filter(
        (line) => line.msg === 'policy reloaded' && line.pid === fleet.proxy.child.pid,
      );
      expect(reloads).toHaveLength(1);
      expect(
        fleet.proxy.logs.some((line) => line.msg === 'reload rejected; keeping the policy in force'),
      ).toBe(false);

      const next = policyFor(origin.port, echo.port);
      appConfig.deploy(JSON.stringify(next));
      await expect.poll(() => inForce(fleet), { timeout: ROLLOUT_MS }).toBe(policyVersion(next));
      expect((await ask(fleet)).body.policy?.problem).toBeNull();
    });

    it('keeps the policy while AppConfig is unreachable, and picks up what was deployed meanwhile once it answers', async () => {
      appConfig = await startAppConfigStandIn({ pollSeconds: POLL_SECONDS });
      const first = policyFor(origin.port);
      appConfig.deploy(JSON.stringify(first));
      const { fleet } = await startInstance();
      await expect.poll(() => inForce(fleet), { timeout: ROLLOUT_MS }).toBe(policyVersion(first));

      await appConfig.stop();
      await expect
        .poll(async () => (await ask(fleet)).body.policy?.problem?.code, { timeout: ROLLOUT_MS })
        .toBe('EGRESS_POLICY_UNREACHABLE');
      const answer = await ask(fleet);
      expect(answer.status).toBe(200);
      expect(answer.body.policyVersion).toBe(policyVersion(first));
      expect(await connect(fleet, origin.port)).toBe(200);

      const second = policyFor(origin.port, echo.port);
      appConfig.deploy(JSON.stringify(second));
      await appConfig.start();
      // The agent backs off while AppConfig is away, up to the configured 15 s between attempts.
      await expect.poll(() => inForce(fleet), { timeout: 15_000 + ROLLOUT_MS }).toBe(policyVersion(second));
      expect((await ask(fleet)).body.policy?.problem).toBeNull();
    });

    it('boots on the SSM boot parameter when AppConfig does not answer, and AppConfig wins once it does', async () => {
      appConfig = await startAppConfigStandIn({ pollSeconds: POLL_SECONDS });
      const boot = policyFor(origin.port);
      await new SSMClient({
        region,
        endpoint: moto.endpoint,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      }).send(
        new PutParameterCommand({
          Name: BOOT_PARAMETER,
          Type: 'String',
          Value: JSON.stringify(boot),
          Overwrite: true,
        }),
      );
      const deployed = policyFor(origin.port, echo.port);
      appConfig.deploy(JSON.stringify(deployed));
      await appConfig.stop();
      const { fleet, sidecar } = await startInstance();
      await expect.poll(() => inForce(fleet), { timeout: ROLLOUT_MS }).toBe(policyVersion(boot));
      expect((await ask(fleet)).body.policy?.source).toBe('boot-parameter');
      expect(await connect(fleet, echo.port)).toBe(403);

      await appConfig.start();
      await expect.poll(() => inForce(fleet), { timeout: 15_000 + ROLLOUT_MS }).toBe(policyVersion(deployed));
      expect((await ask(fleet)).body.policy?.source).toBe('appconfig');
      expect(sidecar.logs.filter((line) => line.msg === 'policy applied').map((line) => line.source)).toEqual(
        ['boot-parameter', 'appconfig'],
      );
    });

    it('starts with the policy file an earlier run left, and serves it while no source answers', async () => {
      appConfig = await startAppConfigStandIn({ pollSeconds: POLL_SECONDS });
      const first = policyFor(origin.port);
      appConfig.deploy(JSON.stringify(first));
      const { fleet, sidecar } = await startInstance();
      await expect.poll(() => inForce(fleet), { timeout: ROLLOUT_MS }).toBe(policyVersion(first));

      // A sidecar restart with both sources gone: nothing to fetch, the file stays in force.
      await appConfig.stop();
      await sidecar.stop();
      const restarted = run('sidecar', fleet.configFile, {
        AWS_ENDPOINT_URL_APPCONFIGDATA: appConfig.url,
        AWS_ENDPOINT_URL_SSM: 'http://127.0.0.1:9',
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
      });
      stops.push(() => restarted.stop());
      await restarted.waitForLog(
        (line) => line.msg === 'policy file found' && line.policyVersion === policyVersion(first),
      );
      // The whole answer, so a failing probe shows its reason rather than a bare 503.
      expect(await ask(fleet)).toMatchObject({
        status: 200,
        body: { policy: { source: 'file' }, policyVersion: policyVersion(first) },
      });
    });

    it(
      'completes the launching hook only once a deployed policy is in force, never on the empty allowlist',
      { timeout: 60_000 },
      async () => {
        appConfig = await startAppConfigStandIn({ pollSeconds: POLL_SECONDS });
        const policy = policyFor(origin.port);
        appConfig.deploy(JSON.stringify(policy));
        await appConfig.stop();
        // No boot parameter either: a fresh moto has none (ParameterNotFound).
        const aws = await startFakeAws(motoServer ?? 'moto_server');
        const imds = await startFakeImds({
          'instance-id': 'i-0123456789abcdef0',
          'placement/region': region,
          'tags/instance/aws:autoscaling:groupName': 'egress-asg',
        });
        stops.push(
          () => aws.close(),
          () => imds.close(),
        );
        const { fleet, sidecar } = await startInstance({
          lifecycle: {
            enabled: true,
            imdsUrl: imds.url,
            targetGroupArn: 'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/egress/0',
            readySuccesses: 2,
            pollMs: 200,
          },
          env: { AWS_ENDPOINT_URL: aws.url, AWS_ENDPOINT_URL_SSM: aws.url },
        });
        const completed = () => aws.calls.filter((call) => call.action === 'CompleteLifecycleAction');
        // The probe passes (its target is exempt from the allowlist), but no policy is in force.
        await sidecar.waitForLog((line) => line.code === 'EGRESS_POLICY_UNREACHABLE');
        expect((await ask(fleet)).status).toBe(200);
        await new Promise((resolve) => setTimeout(resolve, 3_000));
        expect(completed()).toEqual([]);

        await appConfig.start();
        await expect.poll(() => completed().length, { timeout: 15_000 + ROLLOUT_MS }).toBe(1);
        expect(completed()[0]!.params).toMatchObject({
          LifecycleHookName: 'egress-proxy-launching',
          LifecycleActionResult: 'CONTINUE',
        });
        await expect.poll(() => inForce(fleet)).toBe(policyVersion(policy));
      },
    );
  },
);
