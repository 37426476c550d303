/**
 * One "EC2 instance": its own namespace and address on the bridge, running the built proxy and
 * sidecar with the production config shape, as the image's systemd units would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AwsStandIn } from './aws.js';
import { run } from './exec.js';
import { HEALTH_PORT, PROXY_PORT } from './haproxy.js';
import {
  attach,
  deleteNamespace,
  instanceIp,
  instanceNamespace,
  ORIGIN_IP,
  ORIGIN_NAME,
  writeHostsFile,
} from './network.js';
import type { DrillOptions } from './options.js';
import { EXTRA_NAME, policySection, SIDECAR_ENV } from './policy.js';
import { spawnInNamespace, type NsProcess } from './processes.js';
import { DIST, spawnScript } from './scripts.js';

export interface ConfigChanges {
  /** The proxy's idea of the sidecar's port (its probe-target exemption). */
  readonly healthPort?: number;
}

/**
 * The instance config the launch template writes (from the template, durations scaled), with what
 * differs on this network: the listeners, one worker, the lifecycle pointed at the AWS stand-in,
 * and, as the stack writes it, no allowlist of its own: the policy by reference (the AppConfig
 * stand-in, drill/policy.ts), applied by the sidecar into `policyFile`.
 */
export function instanceConfig(
  options: DrillOptions,
  policyFile: string,
  changes: ConfigChanges = {},
): object {
  const base = options.fleet.instanceConfig;
  return {
    ...base,
    proxy: { host: '0.0.0.0', port: PROXY_PORT, workers: 1 },
    health: { host: '0.0.0.0', port: changes.healthPort ?? HEALTH_PORT },
    metrics: { host: '127.0.0.1', port: 9464 },
    allow: [],
    // info: the readiness lines ("proxy listening", "sidecar listening", "policy applied").
    log: { level: 'info' },
    lifecycle: {
      ...base.lifecycle,
      imdsUrl: AwsStandIn.URL,
      region: 'us-east-1',
      targetGroupArn: AwsStandIn.TARGET_GROUP_ARN,
    },
    policy: policySection(policyFile),
  };
}

/** An instance id shaped like EC2's. */
export const instanceIdOf = (index: number): string => `i-0d${String(index).padStart(15, '0')}`;

/** A sidecar log line's fields, or undefined for anything else. */
export function logLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export class Instance {
  readonly ns: string;
  readonly ip: string;
  readonly instanceId: string;
  /** The server name in both HAProxy backends. */
  readonly server: string;
  readonly configFile: string;
  proxy: NsProcess | undefined;
  sidecar: NsProcess | undefined;
  fake: NsProcess | undefined;
  destroyed = false;

  private constructor(
    readonly index: number,
    private readonly dir: string,
    private readonly options: DrillOptions,
  ) {
    this.ns = instanceNamespace(index);
    this.ip = instanceIp(index);
    this.instanceId = instanceIdOf(index);
    this.server = `i${index}`;
    this.configFile = join(dir, 'config.json');
  }

  /** Creates the namespace and starts both services; "boot" ends when both listen. */
  static async launch(index: number, runDir: string, options: DrillOptions): Promise<Instance> {
    const dir = join(runDir, instanceNamespace(index));
    mkdirSync(dir, { recursive: true });
    const instance = new Instance(index, dir, options);
    try {
      writeHostsFile(instance.ns, { [ORIGIN_NAME]: ORIGIN_IP, [EXTRA_NAME]: ORIGIN_IP });
      await attach(instance.ns, `v${index}`, instance.ip);
      instance.writeConfig(instance.configFile);
      instance.proxy = instance.startProxy();
      instance.sidecar = spawnInNamespace(
        `${instance.ns} sidecar`,
        instance.ns,
        process.execPath,
        [DIST.sidecar, '--config', instance.configFile],
        // The SDK's per-service endpoint variables; the credentials are the stand-ins', not AWS's.
        {
          env: {
            ...SIDECAR_ENV,
            AWS_ENDPOINT_URL_AUTO_SCALING: AwsStandIn.URL,
            AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: AwsStandIn.URL,
          },
        },
      );
      await Promise.all([
        instance.proxy.waitForLine('proxy listening', options.launchTimeoutMs),
        instance.sidecar.waitForLine('sidecar listening', options.launchTimeoutMs),
      ]);
      // Ready as the launching hook would have it: running the deployed policy too.
      await instance.sidecar.waitForLine('"msg":"policy applied"', options.launchTimeoutMs);
      return instance;
    } catch (error) {
      await instance.destroy();
      throw error;
    }
  }

  writeConfig(file: string, changes: ConfigChanges = {}): string {
    const config = instanceConfig(this.options, this.file('policy.json'), changes);
    writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
    return file;
  }

  startProxy(configFile = this.configFile): NsProcess {
    return spawnInNamespace(`${this.ns} proxy`, this.ns, process.execPath, [
      DIST.proxy,
      '--config',
      configFile,
    ]);
  }

  /** A file in this instance's scratch directory. */
  file(name: string): string {
    return join(this.dir, name);
  }

  startFake(): NsProcess {
    this.fake = spawnScript(`${this.ns} fake proxy`, this.ns, 'fake-proxy', [String(PROXY_PORT)]);
    return this.fake;
  }

  /** The sidecar's answer to /healthcheck, asked from inside the instance (for the log). */
  healthcheck(): Promise<string> {
    return this.askSidecar('/healthcheck');
  }

  /**
   * The policy version the instance's proxy reports (the sidecar's /livez), or null when it does not
   * say within three tries (a busy machine can make one ask time out).
   */
  async policyVersion(): Promise<string | null> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const body = /^200 (.*)$/s.exec(await this.askSidecar('/livez'))?.[1];
      const version = body ? (JSON.parse(body) as { policyVersion: string | null }).policyVersion : null;
      if (version) return version;
    }
    return null;
  }

  private async askSidecar(path: string): Promise<string> {
    const script = `fetch('http://127.0.0.1:${HEALTH_PORT}${path}',{signal:AbortSignal.timeout(1000)}).then(async r=>console.log(r.status,await r.text()),e=>console.log('no answer:',e.cause?.code??e.message))`;
    const { stdout } = await run('ip', ['netns', 'exec', this.ns, process.execPath, '-e', script], 3_000);
    return stdout.trim();
  }

  /** "Terminate": every process, the namespace (and with it the veth), the hosts file. */
  async destroy(): Promise<void> {
    this.destroyed = true;
    await Promise.all([this.proxy?.kill(), this.sidecar?.kill(), this.fake?.kill()]);
    await deleteNamespace(this.ns);
  }
}
