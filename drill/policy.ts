/**
 * The policy as deployed configuration in the drill: the AppConfig stand-in in the internet
 * namespace, what each instance's config and sidecar need to poll it, and deployments.
 */
import type { PolicyDocument } from '../proxy-app/src/config/index.js';
import { policyVersion } from '../proxy-app/src/policy/version.js';
import { DEFAULT_APPCONFIG_IDS } from '../test/support/appconfig.js';
import { INTERNET_SUBNET, NS, ORIGIN_IP, ORIGIN_NAME } from './network.js';
import type { NsProcess } from './processes.js';
import { spawnScript } from './scripts.js';
import {
  APPCONFIG_PORT,
  APPCONFIG_READY,
  DEPLOYED,
  ECHO_PORT,
  type DeployCommand,
} from './servers/protocol.js';

/** The stand-in asks for a poll every second: the drill's poll interval. */
export const POLL_INTERVAL_MS = 1_000;
/** "Within the poll interval plus a few seconds": the bound every instance must converge in. */
export const ROLLOUT_BOUND_MS = POLL_INTERVAL_MS + 5_000;

/** A second name for the origin, allowed only by the rolled-out policy. */
export const EXTRA_NAME = 'extra.drill';

/**
 * The policy every instance starts with: the origin by name, its subnet for the resolved address.
 * 8080 only for `--forward-port 8080`; the echo port for the drain scenarios' long-lived tunnels.
 */
export function policyAllowing(allow: readonly string[]): PolicyDocument {
  return { allow: [...allow], allowPorts: [80, 443, 8080, ECHO_PORT], allowCidrs: [INTERNET_SUBNET] };
}
export const BASE_POLICY = policyAllowing([ORIGIN_NAME]);

/** The instance config's `policy` section (the file in the instance's own directory). */
export function policySection(file: string): object {
  return {
    file,
    appConfig: { ...DEFAULT_APPCONFIG_IDS, pollIntervalSeconds: 15 },
    region: 'us-east-1',
    bootWaitMs: 2_000,
  };
}

/** The sidecar's environment: the stand-in's endpoint and credentials it accepts. */
export const SIDECAR_ENV: Readonly<Record<string, string>> = {
  AWS_ENDPOINT_URL_APPCONFIGDATA: `http://${ORIGIN_IP}:${APPCONFIG_PORT}`,
  AWS_ACCESS_KEY_ID: 'drill',
  AWS_SECRET_ACCESS_KEY: 'drill',
  AWS_EC2_METADATA_DISABLED: 'true',
  // The host runs Node 20, the instances 22: the SDK's notice about it is noise in the drill's logs.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
};

export class PolicyService {
  private deployments = 0;

  private constructor(private readonly proc: NsProcess) {}

  static async start(): Promise<PolicyService> {
    const proc = spawnScript('appconfig', NS.internet, 'appconfig', [], { stdin: true });
    await proc.waitForLine(APPCONFIG_READY, 10_000);
    const service = new PolicyService(proc);
    await service.deploy(JSON.stringify(BASE_POLICY));
    return service;
  }

  /** Deploys `content` (any text: the drill deploys invalid policies too); resolves once deployed. */
  async deploy(content: string): Promise<{ label: string; at: number }> {
    const label = `drill-${++this.deployments}`;
    const deployed = this.proc.waitForLine(`${DEPLOYED} ${label}`, 5_000);
    const command: DeployCommand = { label, content };
    this.proc.write(`${JSON.stringify(command)}\n`);
    await deployed;
    return { label, at: Date.now() };
  }

  /** Deploys a valid policy; resolves with its version too. */
  async deployPolicy(policy: PolicyDocument): Promise<{ label: string; at: number; version: string }> {
    return { ...(await this.deploy(JSON.stringify(policy))), version: policyVersion(policy) };
  }

  async stop(): Promise<void> {
    await this.proc.kill();
  }
}
