/** The failures the drill injects, one at a time. */
import type { Instance } from './instance.js';
import { setInternet } from './network.js';
import type { DrillOptions, FaultScenario } from './options.js';
import { BASE_POLICY, policyAllowing, type PolicyService } from './policy.js';
import { rollOut, type RolloutObservation } from './rollout.js';
import { FAKE_READY, FAKE_WAITING } from './servers/protocol.js';

/** What a fault may use besides the instances. */
export interface World {
  readonly policy: PolicyService;
  readonly options: DrillOptions;
}

export interface Fault {
  readonly name: FaultScenario;
  readonly title: string;
  /**
   * `replace`: one victim, expected to be detected and replaced. `hold`: a fleet-wide condition
   * held for a while and then undone; no instance should be removed. `rollout`: a change the
   * fleet must take in its stride (observed inside `inject`); no instance should be removed.
   */
  readonly kind: 'replace' | 'hold' | 'rollout';
  /** Injects; returns the injection time (epoch ms) and, for `hold`, how to undo it. */
  inject(
    victim: Instance,
    fleet: readonly Instance[],
    world: World,
  ): Promise<{ at: number; undo?: () => Promise<void>; rollout?: RolloutObservation }>;
}

export interface Expectation {
  readonly sidecarDetects: boolean;
  /** `late`: not detected, or detected only after the sidecar check did. */
  readonly naive: 'yes' | 'no' | 'late' | 'any';
  readonly replaced: boolean;
}

export const EXPECTED: Readonly<Record<FaultScenario, Expectation>> = {
  'proxy-killed': { sidecarDetects: true, naive: 'yes', replaced: true },
  'proxy-hung': { sidecarDetects: true, naive: 'late', replaced: true },
  'fake-200': { sidecarDetects: true, naive: 'late', replaced: true },
  'probe-denied': { sidecarDetects: true, naive: 'any', replaced: true },
  'sidecar-killed': { sidecarDetects: true, naive: 'no', replaced: true },
  'internet-outage': { sidecarDetects: false, naive: 'no', replaced: false },
  'allowlist-emptied': { sidecarDetects: false, naive: 'no', replaced: false },
  'policy-rollout': { sidecarDetects: false, naive: 'no', replaced: false },
};

const LAUNCH_MS = 10_000;

export const FAULTS: Readonly<Record<FaultScenario, Fault>> = {
  'proxy-killed': {
    name: 'proxy-killed',
    title: 'proxy killed (SIGKILL, not restarted)',
    kind: 'replace',
    inject: (victim) => {
      victim.proxy?.signalTree('SIGKILL');
      return Promise.resolve({ at: Date.now() });
    },
  },
  'proxy-hung': {
    name: 'proxy-hung',
    title: 'proxy hung (SIGSTOP primary + workers)',
    kind: 'replace',
    inject: (victim) => {
      victim.proxy?.signalTree('SIGSTOP');
      return Promise.resolve({ at: Date.now() });
    },
  },
  'fake-200': {
    name: 'fake-200',
    title: 'proxy replaced by a fake answering 200',
    kind: 'replace',
    inject: async (victim) => {
      const fake = victim.startFake();
      await fake.waitForLine(FAKE_WAITING, LAUNCH_MS);
      victim.proxy?.signalTree('SIGKILL');
      const at = Date.now();
      await fake.waitForLine(FAKE_READY, LAUNCH_MS);
      return { at };
    },
  },
  'probe-denied': {
    name: 'probe-denied',
    title: 'policy denies the probe (proxy restarted with a config whose probe port is not the sidecar’s)',
    kind: 'replace',
    inject: async (victim) => {
      // The probe target (loopback on health.port) is exempt from the allowlist by design, so an
      // allowlist edit cannot deny it. What can: a proxy config that disagrees with the sidecar
      // about the health port. Then 127.0.0.1:8081 is an IP literal outside allowCidrs: 403.
      const broken = victim.writeConfig(victim.file('config-probe-denied.json'), { healthPort: 8082 });
      victim.proxy?.signalTree('SIGKILL');
      const at = Date.now();
      await victim.proxy?.exited;
      victim.proxy = victim.startProxy(broken);
      await victim.proxy.waitForLine('proxy listening', LAUNCH_MS);
      return { at };
    },
  },
  'sidecar-killed': {
    name: 'sidecar-killed',
    title: 'sidecar killed (proxy still fine)',
    kind: 'replace',
    inject: (victim) => {
      victim.sidecar?.signalTree('SIGKILL');
      return Promise.resolve({ at: Date.now() });
    },
  },
  'internet-outage': {
    name: 'internet-outage',
    title: 'internet cut off (origins unreachable)',
    kind: 'hold',
    inject: async () => {
      await setInternet(false);
      return { at: Date.now(), undo: () => setInternet(true) };
    },
  },
  'allowlist-emptied': {
    name: 'allowlist-emptied',
    title: 'allowlist emptied on every instance (a policy deployed through AppConfig)',
    kind: 'hold',
    inject: async (_victim, _fleet, { policy }) => {
      const { at } = await policy.deployPolicy(policyAllowing(['nothing.drill']));
      return { at, undo: async () => void (await policy.deployPolicy(BASE_POLICY)) };
    },
  },
  'policy-rollout': {
    name: 'policy-rollout',
    title: 'policy rolled out through AppConfig, then an invalid one (traffic and held connections flowing)',
    kind: 'rollout',
    inject: (_victim, fleet, { policy, options }) => rollOut(fleet, policy, options),
  },
};
