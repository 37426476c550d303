/**
 * `egress-proxy-fleet policy`: the policy AppConfig serves and the version each instance runs; with
 * `--wait`, repeated until every InService instance runs the served version, so a deploy that
 * changed the allowlist can wait for it to be in force everywhere.
 */
import { EXIT, FleetError, type ExitStatus } from './errors.js';
import { gatherStatus, type FleetClients, type FleetSelector, type FleetStatus } from './status.js';

export interface RolloutOptions {
  readonly selector: FleetSelector;
  /** Keep asking for up to this long; 0 asks once. */
  readonly waitSeconds: number;
  readonly policyGraceSeconds: number;
  readonly json: boolean;
  readonly stdout: (text: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Seconds between two looks while waiting. */
const WAIT_STEP_MS = 5_000;

export interface Rollout {
  readonly desired: NonNullable<FleetStatus['policy']>['desired'];
  /** InService instances not (yet) on the served version, with what they run. */
  readonly waitingFor: readonly { instanceId: string; policyVersion: string | null }[];
  readonly inService: number;
  readonly converged: boolean;
}

export function rolloutOf(status: FleetStatus): Rollout {
  const desired = status.policy?.desired ?? null;
  const inService = status.instances.filter((i) => i.lifecycleState === 'InService');
  const waitingFor = inService
    .filter((i) => desired?.version == null || i.policyVersion !== desired.version)
    .map((i) => ({ instanceId: i.instanceId, policyVersion: i.policyVersion ?? null }));
  return {
    desired,
    waitingFor,
    inService: inService.length,
    converged: desired?.version != null && waitingFor.length === 0,
  };
}

export function describeRollout(rollout: Rollout): string {
  const { desired } = rollout;
  if (!desired) return 'no AppConfig deployment serves the fleet yet';
  const head = `policy ${desired.version ?? desired.label ?? '(unlabelled)'} (AppConfig deployment #${desired.deploymentNumber} ${desired.state}): ${rollout.inService - rollout.waitingFor.length}/${rollout.inService} InService instances run it`;
  if (rollout.converged) return `${head}; in force everywhere`;
  const waiting = rollout.waitingFor.map(
    (w) => `${w.instanceId} (runs ${w.policyVersion ?? 'nothing reported'})`,
  );
  return `${head}; waiting for ${waiting.join(', ')}`;
}

export async function followRollout(clients: FleetClients, options: RolloutOptions): Promise<ExitStatus> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = Date.now() + options.waitSeconds * 1000;
  for (;;) {
    const status = await gatherStatus(clients, options.selector, {
      policyGraceSeconds: options.policyGraceSeconds,
    });
    if (!status.policy) {
      throw new FleetError(
        'FLEET_NO_POLICY',
        `Auto Scaling group ${status.groupName} has no policy distribution`,
        {
          hint: 'the stack tags its group with egress-proxy:appconfig-environment and egress-proxy:log-group; is this an egress-proxy stack of this version?',
        },
      );
    }
    const rollout = rolloutOf(status);
    const last = rollout.converged || Date.now() + WAIT_STEP_MS > deadline;
    if (options.json) {
      if (last) options.stdout(`${JSON.stringify(rollout, null, 2)}\n`);
    } else {
      options.stdout(`${new Date().toISOString()} ${describeRollout(rollout)}\n`);
    }
    if (rollout.converged) return EXIT.ok;
    if (last) return EXIT.policyLagging;
    await sleep(WAIT_STEP_MS);
  }
}
