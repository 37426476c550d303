import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootProductVm, type BootedVm } from '../../vm/boot.js';
import { connectThrough, get, getOver, waitFor } from '../../vm/http.js';
import { missingPrerequisites } from '../../vm/prerequisites.js';
import { PROXY_JOB, SCRAPE_CONFIG_PATH, SIDECAR_JOB } from '../../lib/prometheus-metrics.js';
import { GUEST_ADDRESS, ORIGIN_HOST, TEST_METRICS } from '../../vm/user-data.js';

const PROXY = 'egress-proxy.service';
const SIDECAR = 'egress-proxy-sidecar.service';
const NODE = '/usr/libexec/egress-proxy/node';
const ORIGIN_BODY = 'hello from the guest origin';

const log = (line: string): void => void process.stderr.write(`[vm] ${line}\n`);
/** A systemd time span as `systemctl show` prints it ("45s", "5min", "4min 45s"), in seconds. */
const systemdSeconds = (span: string): number =>
  [...span.matchAll(/(\d+)(min|s)/g)].reduce(
    (sum, [, n, unit]) => sum + Number(n) * (unit === 'min' ? 60 : 1),
    0,
  );
const missing = missingPrerequisites();

if (missing !== undefined && !process.env.CI) {
  log(`image boot test skipped: ${missing}`);
  describe.skip(`image boot test [SKIPPED: ${missing}]`, () => {
    it('boots the image with the CDK user data', () => undefined);
  });
} else if (missing !== undefined) {
  describe('image boot test', () => {
    it('has its prerequisites (CI installs them)', () => {
      throw new Error(`cannot run the image boot test: ${missing}`);
    });
  });
} else {
  describe('image boot test: the image and the CDK user data, booted in QEMU', () => {
    let box: BootedVm;
    const started = Date.now();

    const sh = (command: string, timeoutMs?: number): Promise<string> => box.agent.sh(command, timeoutMs);
    const show = async (unit: string, properties: readonly string[]): Promise<Record<string, string>> => {
      const out = await sh(`systemctl show --property=${properties.join(',')} ${unit}`);
      return Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
      );
    };
    const health = async (): Promise<number> => (await get(box.healthUrl, 5_000)).status;
    /** Polls a unit until `accept` or the deadline; resolves with the last properties. */
    const waitUnit = async (
      unit: string,
      properties: readonly string[],
      accept: (p: Record<string, string>) => boolean,
      deadlineMs: number,
    ): Promise<Record<string, string>> => {
      const until = Date.now() + deadlineMs;
      let last = await show(unit, properties);
      while (!accept(last) && Date.now() < until) {
        await sleep(500);
        last = await show(unit, properties);
      }
      return last;
    };
    const restoreProxy = async (): Promise<void> => {
      await sh(`systemctl reset-failed ${PROXY}; systemctl start ${PROXY}`);
      const back = await waitFor(box.healthUrl, (a) => a.status === 200, 60_000);
      expect(back.status, back.body).toBe(200);
    };

    beforeAll(async () => {
      box = await bootProductVm(log);
      // An allowed destination inside the guest: the user data's allowlist names ORIGIN_HOST and
      // allowCidrs the guest's own address (vm/user-data.ts); the host name resolves via /etc/hosts.
      const server = `require('http').createServer((q, s) => s.end('${ORIGIN_BODY}')).listen(443, '${GUEST_ADDRESS}')`;
      await sh(
        `echo '${GUEST_ADDRESS} ${ORIGIN_HOST}' >> /etc/hosts && ` +
          `systemd-run --unit=vm-test-origin --collect ${NODE} -e "${server}" && ` +
          `for i in $(seq 100); do curl -sf http://${GUEST_ADDRESS}:443/ && exit 0; sleep 0.2; done; exit 1`,
      );
    });

    afterAll(async () => {
      try {
        const analyze = await box?.agent.exec('systemd-analyze; systemd-analyze blame | head -n 12', 30_000);
        if (analyze) log(`guest boot:\n${analyze.stdout}`);
      } catch (error) {
        log(`no boot analysis: ${(error as Error).message}`);
      }
      log(`timings: ${JSON.stringify(box?.timings)}; whole test ${Date.now() - started} ms`);
      await box?.dispose();
    });

    it('ran the CDK user data to the end; the CloudWatch agent step failed without failing it', async () => {
      // cloud-final writes result.json after the user data script; the proxy answers before that.
      await sh(
        'for i in $(seq 120); do [ -f /run/cloud-init/result.json ] && exit 0; sleep 0.5; done; exit 1',
      );
      const result = JSON.parse(await sh('cat /run/cloud-init/result.json')) as {
        v1: { datasource: string; errors: string[] };
      };
      expect(result.v1.errors).toEqual([]);
      expect(result.v1.datasource).toMatch(/NoCloud/);
      // The script cloud-init ran is the one the CDK app rendered, byte for byte.
      expect(await sh('cat /var/lib/cloud/instance/user-data.txt')).toBe(box.userData.script);
      const output = await sh('cat /var/log/cloud-init-output.log');
      expect(output).toMatch(/amazon-cloudwatch-agent-ctl: No such file or directory/);
      expect(output).toMatch(/egress-proxy: CloudWatch agent did not start; logs stay in the journal/);
      expect((await sh('stat -c "%U:%G %a" /etc/egress-proxy/config.json')).trim()).toBe(
        'root:egress-proxy 640',
      );
      // No allowlist of its own: the policy is deployed configuration, named in the config's policy section.
      const config = JSON.parse(await sh('cat /etc/egress-proxy/config.json')) as {
        allow: string[];
        policy: { file: string };
      };
      expect(config.allow).toEqual([]);
      expect(config.policy.file).toBe('/var/lib/egress-proxy/policy.json');
      // The drop-in sizes systemd's stop timeout to the drain deadline plus 15 s.
      const stopTimeout = (await show(PROXY, ['TimeoutStopUSec'])).TimeoutStopUSec!;
      expect(systemdSeconds(stopTimeout), stopTimeout).toBe(Math.ceil(box.userData.drainMs / 1000) + 15);
    });

    it('wrote the metric scrape config (no metadata service: labels unknown); both targets answer on loopback', async () => {
      const scrape = JSON.parse(await sh(`cat ${SCRAPE_CONFIG_PATH}`)) as {
        scrape_configs: {
          job_name: string;
          static_configs: { targets: string[]; labels: Record<string, string> }[];
        }[];
      };
      expect(scrape.scrape_configs.map((job) => job.job_name)).toEqual([PROXY_JOB, SIDECAR_JOB]);
      for (const job of scrape.scrape_configs) {
        const [{ targets, labels }] = job.static_configs as [
          { targets: string[]; labels: Record<string, string> },
        ];
        expect(labels).toEqual({ instance_id: 'unknown', availability_zone: 'unknown' });
        // The CloudWatch agent's view: each target's /metrics from the instance itself.
        expect(await sh(`curl -fsS --max-time 5 http://${targets[0]}/metrics`)).toMatch(
          /^# TYPE egress_proxy_/m,
        );
      }
      const agent = JSON.parse(await sh('cat /opt/aws/amazon-cloudwatch-agent/etc/egress-proxy.json')) as {
        logs: {
          metrics_collected: { prometheus: { prometheus_config_path: string; log_group_name: string } };
        };
      };
      expect(agent.logs.metrics_collected.prometheus).toMatchObject({
        prometheus_config_path: SCRAPE_CONFIG_PATH,
        log_group_name: TEST_METRICS.logGroupName,
      });
    });

    it('runs both units enabled and active, as the unprivileged user, with the units’ sandboxing', async () => {
      const uid = (await sh('id -u egress-proxy')).trim();
      expect(Number(uid)).toBeGreaterThan(0);
      for (const unit of [PROXY, SIDECAR]) {
        expect((await sh(`systemctl is-enabled ${unit}`)).trim()).toBe('enabled');
        const p = await show(unit, [
          'ActiveState',
          'User',
          'Group',
          'NoNewPrivileges',
          'ProtectSystem',
          'ProtectHome',
          'PrivateTmp',
          'PrivateDevices',
          'CapabilityBoundingSet',
          'RestrictNamespaces',
          'MainPID',
        ]);
        expect(p).toMatchObject({
          ActiveState: 'active',
          User: 'egress-proxy',
          Group: 'egress-proxy',
          NoNewPrivileges: 'yes',
          ProtectSystem: 'strict',
          ProtectHome: 'yes',
          PrivateTmp: 'yes',
          PrivateDevices: 'yes',
          CapabilityBoundingSet: '',
          RestrictNamespaces: 'yes',
        });
        // What the kernel says about the running process, not only what systemd was told.
        const status = await sh(`cat /proc/${p.MainPID}/status`);
        expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
        expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
        expect(status).toMatch(/^Seccomp:\s+2$/m);
        expect(status).toMatch(/^CapEff:\s+0+$/m);
      }
      // image/host tuning, installed by install.sh, applied by systemd-sysctl at boot.
      expect((await sh('sysctl -n net.core.somaxconn')).trim()).toBe('65535');
    });

    it('answers /healthcheck 200 through the forwarded health port', async () => {
      // A probe may miss its 2 s timeout on a busy, emulated guest: the next check passes.
      const answer = await waitFor(box.healthUrl, (a) => a.status === 200, 30_000);
      expect(answer.status, answer.body).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ status: 'ok' });
    });

    it('tunnels to an allowed destination and answers 403 for denied ones', async () => {
      // What the sidecar's policy agent does with a fetched policy (the guest has no AppConfig):
      // write it into its state directory, then POST /reload on the proxy's control endpoint.
      const policy = JSON.stringify(box.userData.policy);
      await sh(
        `test -d /var/lib/egress-proxy && printf '%s' '${policy}' > /var/lib/egress-proxy/policy.json && ` +
          `chown egress-proxy:egress-proxy /var/lib/egress-proxy/policy.json && ` +
          `curl -sf -X POST http://127.0.0.1:9464/reload`,
      );
      const allowed = await connectThrough(box.proxyPort, `${ORIGIN_HOST}:443`);
      expect(allowed.status, allowed.head).toBe(200);
      expect(await getOver(allowed.socket, ORIGIN_HOST)).toContain(ORIGIN_BODY);
      allowed.socket.destroy();

      for (const target of ['example.org:443', `${ORIGIN_HOST}:8443`, '127.0.0.1:8081']) {
        const denied = await connectThrough(box.proxyPort, target);
        expect(denied.status, `${target}\n${denied.head}`).toBe(403);
        expect(denied.head).toMatch(/x-egress-proxy-reason: /i);
        denied.socket.destroy();
      }
    });

    it('logs JSON lines to the journal, as the service user', async () => {
      const uid = (await sh('id -u egress-proxy')).trim();
      const out = await sh(`journalctl --no-pager -o json _SYSTEMD_UNIT=${PROXY} + _SYSTEMD_UNIT=${SIDECAR}`);
      const entries = out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { MESSAGE: unknown; _UID: string; SYSLOG_IDENTIFIER: string });
      expect(entries.length).toBeGreaterThan(2);
      for (const entry of entries) {
        expect(entry._UID).toBe(uid);
        expect(typeof entry.MESSAGE, JSON.stringify(entry)).toBe('string');
        const line = JSON.parse(entry.MESSAGE as string) as Record<string, unknown>;
        expect(line).toHaveProperty('msg');
      }
      const messages = entries.map(
        (e) => `${e.SYSLOG_IDENTIFIER}: ${(JSON.parse(e.MESSAGE as string) as { msg: string }).msg}`,
      );
      expect(messages).toContain('egress-proxy: proxy listening');
      expect(messages.some((m) => m.startsWith('egress-proxy-sidecar: '))).toBe(true);
    });

    it('ships a burst of 50,000 lines from the proxy’s unit to its log file, every one (no rate limit drops them)', async () => {
      const lines = 50_000;
      const file = '/var/log/egress-proxy/proxy.log';
      // The proxy's own access-log lines from the checks above got there, as bare JSON.
      expect(await sh(`grep -c '"decision":"denied"' ${file}`)).not.toBe('0\n');
      // Written from inside the proxy's unit (its cgroup), to the journal as its stdout is:
      // journald limits lines per unit, rsyslog's imjournal per input.
      const started = Date.now();
      await sh(
        `echo $$ > /sys/fs/cgroup/system.slice/${PROXY}/cgroup.procs && ` +
          `seq 1 ${lines} | sed 's/.*/{"msg":"burst","n":&}/' | systemd-cat -t egress-proxy`,
        180_000,
      );
      const writtenMs = Date.now() - started;
      const count = async (): Promise<number> =>
        Number((await sh(`grep -c '"msg":"burst"' ${file} || true`)).trim());
      // rsyslog catches up at its own pace (slowly under emulation): wait while the file grows, up
      // to 20 s without progress (bounded).
      let shipped = await count();
      let lastProgress = Date.now();
      for (let round = 0; round < 120 && shipped < lines && Date.now() - lastProgress < 20_000; round++) {
        await sleep(2_000);
        const now = await count();
        if (now > shipped) lastProgress = Date.now();
        shipped = now;
      }
      const inJournal = Number(
        (await sh(`journalctl --no-pager -o cat -t egress-proxy | grep -c '"msg":"burst"' || true`)).trim(),
      );
      const rsyslog = await sh('journalctl --no-pager -o cat -u rsyslog | tail -n 20');
      log(
        `burst: ${lines} lines written in ${writtenMs} ms; ${inJournal} in the journal; ` +
          `${shipped} in ${file} after ${Date.now() - started} ms`,
      );
      const journald = await sh('journalctl --no-pager -o cat -u systemd-journald');
      expect(journald, 'journald dropped lines').not.toMatch(
        /Suppressed \d+ messages from egress-proxy\.service/,
      );
      expect(inJournal, 'lines in the journal').toBe(lines);
      expect(shipped, `lines in ${file}; rsyslog said:\n${rsyslog}`).toBe(lines);
      expect(Number((await sh(`grep '"msg":"burst"' ${file} | sort -u | wc -l`)).trim())).toBe(lines);
    }, 420_000);

    it('reports 503 while the proxy is killed, and systemd restarts it to 200', async () => {
      const before = await show(PROXY, ['MainPID', 'NRestarts']);
      const sidecarPid = (await show(SIDECAR, ['MainPID'])).MainPID;
      await sh(`kill -KILL ${before.MainPID}`);
      const down = await waitFor(box.healthUrl, (a) => a.status === 503, 10_000, 100);
      expect(down.status, down.body).toBe(503);
      const up = await waitFor(box.healthUrl, (a) => a.status === 200, 60_000);
      expect(up.status, up.body).toBe(200);
      log(`proxy killed: 503 after ${down.ms} ms, back to 200 ${up.ms} ms later`);
      const after = await show(PROXY, ['MainPID', 'NRestarts', 'ActiveState']);
      expect(after.ActiveState).toBe('active');
      expect(after.MainPID).not.toBe(before.MainPID);
      expect(Number(after.NRestarts)).toBe(Number(before.NRestarts) + 1);
      // The sidecar is independent of the proxy: it kept running through it.
      expect((await show(SIDECAR, ['MainPID'])).MainPID).toBe(sidecarPid);
    });

    it('gives up on a proxy that crashes on start (StartLimitBurst) and the sidecar keeps reporting 503', async () => {
      const dropIn = '/run/systemd/system/egress-proxy.service.d/vm-test-crash.conf';
      try {
        // Node.js exits 1 before the proxy runs: a crash on start that a restart cannot fix.
        await sh(
          `mkdir -p ${dropIn.replace(/\/[^/]+$/, '')} && ` +
            `printf '[Service]\\nEnvironment=NODE_OPTIONS=--require=/nonexistent/crash.js\\n' > ${dropIn} && ` +
            `systemctl daemon-reload && systemctl reset-failed ${PROXY}; systemctl restart ${PROXY}`,
        );
        const t0 = Date.now();
        // systemd 252 leaves Result at the last exit's "exit-code" when it refuses the next start
        // (it is not "start-limit-hit"): the unit is failed and the journal says why.
        const gaveUp = await waitUnit(
          PROXY,
          ['ActiveState', 'SubState', 'Result', 'NRestarts', 'ExecMainStatus'],
          (p) => p.ActiveState === 'failed',
          60_000,
        );
        log(`crash loop: gave up after ${Date.now() - t0} ms: ${JSON.stringify(gaveUp)}`);
        expect(gaveUp).toMatchObject({ ActiveState: 'failed', ExecMainStatus: '1' });
        const journal = await sh(`journalctl --no-pager -o cat -n 5 -u ${PROXY}`);
        expect(journal).toMatch(/egress-proxy\.service: Start request repeated too quickly\./);
        expect(Number(gaveUp.NRestarts)).toBeGreaterThanOrEqual(4);
        // Stays down rather than flapping: no more restarts, and the sidecar says 503 throughout.
        for (let i = 0; i < 8; i++) {
          expect(await health()).toBe(503);
          await sleep(1_000);
        }
        expect(await show(PROXY, ['ActiveState', 'NRestarts'])).toMatchObject({
          ActiveState: 'failed',
          NRestarts: gaveUp.NRestarts,
        });
        expect((await show(SIDECAR, ['ActiveState'])).ActiveState).toBe('active');
      } finally {
        await sh(`rm -f ${dropIn} && systemctl daemon-reload`);
        await restoreProxy();
      }
    });

    it('does not restart a proxy whose config it cannot read (exit 78); the sidecar reports 503', async () => {
      try {
        await sh(`chmod 0600 /etc/egress-proxy/config.json && systemctl restart ${PROXY}`);
        const failed = await waitUnit(
          PROXY,
          ['ActiveState', 'Result', 'ExecMainStatus', 'NRestarts'],
          (p) => p.ActiveState === 'failed',
          30_000,
        );
        expect(failed).toMatchObject({ ActiveState: 'failed', Result: 'exit-code', ExecMainStatus: '78' });
        // RestartSec is 2 s: after 5 s a restarting unit would have tried again.
        await sleep(5_000);
        expect(await show(PROXY, ['ActiveState', 'NRestarts'])).toMatchObject({
          ActiveState: 'failed',
          NRestarts: failed.NRestarts,
        });
        expect(await health()).toBe(503);
        const journal = await sh(`journalctl --no-pager -o cat -n 20 _SYSTEMD_UNIT=${PROXY}`);
        expect(journal).toMatch(/cannot read \/etc\/egress-proxy\/config\.json: EACCES/);
      } finally {
        await sh('chmod 0640 /etc/egress-proxy/config.json');
        await restoreProxy();
      }
    });

    it('drains open tunnels on systemctl stop (SIGTERM) and exits 0 when they close', async () => {
      const tunnel = await connectThrough(box.proxyPort, `${ORIGIN_HOST}:443`);
      expect(tunnel.status, tunnel.head).toBe(200);
      expect(await getOver(tunnel.socket, ORIGIN_HOST)).toContain(ORIGIN_BODY);
      const stopStarted = Date.now();
      const stopping = box.agent.exec(`systemctl stop ${PROXY}`, 90_000);
      const draining = await waitUnit(
        PROXY,
        ['ActiveState'],
        (p) => p.ActiveState === 'deactivating',
        20_000,
      );
      expect(draining.ActiveState).toBe('deactivating');
      // The open tunnel still carries traffic while the proxy drains.
      expect(await getOver(tunnel.socket, ORIGIN_HOST)).toContain(ORIGIN_BODY);
      tunnel.socket.end();
      const stopped = await stopping;
      const stopMs = Date.now() - stopStarted;
      log(`systemctl stop with one open tunnel took ${stopMs} ms`);
      expect(stopped.exitcode, stopped.stderr).toBe(0);
      expect(await show(PROXY, ['ActiveState', 'Result', 'ExecMainCode', 'ExecMainStatus'])).toMatchObject({
        ActiveState: 'inactive',
        Result: 'success',
        ExecMainStatus: '0',
      });
      const journal = await sh(`journalctl --no-pager -o cat -n 30 _SYSTEMD_UNIT=${PROXY}`);
      expect(journal).toMatch(/"msg":"draining"/);
      expect(journal).toMatch(/"msg":"proxy stopped"/);
      // It exited because its last tunnel closed, not at the drain deadline.
      expect(journal).not.toMatch(/drain deadline/);
    });
  });
}
