/**
 * Instances leaving the fleet in good health while tunnels are open on them: scale-in by one, and
 * an instance refresh. On the instance that leaves, a busy tunnel older than the deregistration
 * delay (a byte every scaled second) and an idle one. The stack promises: the busy tunnel runs
 * until it ends, the idle one is closed early, the instance terminates within the bound (the
 * deregistration delay), and no client request fails.
 */
import type { AutoScalingGroup, Termination } from './asg.js';
import { seconds, sleep, waitFor } from './exec.js';
import { SIDECAR_LB } from './haproxy.js';
import type { Monitor } from './monitor.js';
import type { DrainScenario, DrillOptions, MetadataReading } from './options.js';
import type { Traffic, Tally } from './traffic.js';
import type { OpenTunnel, TunnelClient, TunnelEnd } from './tunnels.js';

export interface TunnelOutcome {
  readonly openedAt: number;
  readonly end: TunnelEnd | undefined;
}

export interface DrainResult {
  readonly name: DrainScenario;
  readonly title: string;
  readonly reading: MetadataReading;
  /** The instance carrying the two tunnels. */
  readonly victim: string;
  /** The group's decision to terminate the victim; tunnel times are counted from it. */
  readonly decisionAt: number;
  readonly busy: TunnelOutcome;
  readonly idle: TunnelOutcome;
  /** Every instance that left during the scenario (one for scale-in, the whole group for a refresh). */
  readonly terminations: readonly Termination[];
  /** The deregistration delay (scaled). */
  readonly boundMs: number;
  /** Longest a closed-when-idle tunnel may take: the sidecar's notice, the proxy's idle time, slack. */
  readonly idleCloseMs: number;
  readonly clients: Tally;
  /** Instances the sidecar-checked backend held down meanwhile (their flows are reset then). */
  readonly markedDown: readonly string[];
  readonly durationMs: number;
}

export const DRAIN_TITLES: Readonly<Record<DrainScenario, string>> = {
  'scale-in': 'scale-in by one, tunnels open on the instance removed',
  'instance-refresh': 'instance refresh (new image or config), tunnels open on an old instance',
};

/** Steps of an instance's termination, and the sidecar's reaction, take up to this beyond the bound. */
const TERMINATION_SLACK_MS = 3_000;
/** A refresh step launches its instances to the healthy threshold within this (then the warmup). */
const REFRESH_STEP_MS = 60_000;

/**
 * Opens each drain scenario's busy tunnel, each on another instance, all at once, so that they
 * age past the deregistration delay together.
 */
export async function openBusyTunnels(
  names: readonly DrainScenario[],
  asg: AutoScalingGroup,
  tunnels: TunnelClient,
  options: DrillOptions,
): Promise<Map<DrainScenario, OpenTunnel>> {
  const instances = asg.instances().sort((a, b) => a.index - b.index);
  if (instances.length < names.length) throw new Error('fewer instances than drain scenarios');
  const opened = new Map<DrainScenario, OpenTunnel>();
  for (const [i, name] of names.entries()) {
    opened.set(name, await tunnels.openOn(SIDECAR_LB.port, instances[i]!.ip, options.tunnelTickMs));
  }
  return opened;
}

/**
 * Runs one drain scenario on the instance carrying `busy`: once the busy tunnel is older than the
 * deregistration delay, an idle tunnel joins it, the group decides, the busy tunnel's client ends
 * it partway into the proxy's drain deadline, and the scenario waits for the group to finish.
 */
export async function runDrainScenario(
  name: DrainScenario,
  busy: OpenTunnel,
  options: DrillOptions,
  asg: AutoScalingGroup,
  tunnels: TunnelClient,
  traffic: Traffic,
  monitor: Monitor,
  reading: MetadataReading,
): Promise<DrainResult> {
  const { fleet, log } = options;
  const lifecycle = fleet.instanceConfig.lifecycle;
  const { drainMs, drainIdleMs } = fleet.instanceConfig.timeouts;
  const victim = asg.byIp(busy.instanceIp);
  if (!victim) throw new Error(`${name}: the busy tunnel's instance ${busy.instanceIp} left the group`);
  log(`scenario ${name}: busy tunnel ${busy.id} on ${victim.server}; aging it past the deregistration delay`);
  // Older than the deregistration delay: age alone must not end a tunnel.
  await sleep(Math.max(0, busy.openedAt + fleet.deregistrationDelayMs + 500 - Date.now()));
  const idle: OpenTunnel = await tunnels.openOn(SIDECAR_LB.port, victim.ip, 0);

  const startedAt = Date.now();
  log(`scenario ${name}: ${DRAIN_TITLES[name]} (${victim.server}, metadata says Terminated ${reading})`);
  const leaving = name === 'scale-in' ? asg.scaleIn(victim, reading).then((t) => [t]) : asg.refresh(reading);
  // A refresh launches the new instances first: the victim's own decision comes later.
  const victimLeaving = await waitFor(
    () => asg.terminations.find((t) => t.server === victim.server && t.decisionAt >= startedAt),
    REFRESH_STEP_MS + fleet.instanceWarmupMs,
    50,
  );
  if (!victimLeaving) throw new Error(`${name}: the group never decided to terminate ${victim.server}`);
  const { decisionAt } = victimLeaving;
  // The busy tunnel's client ends it partway into the proxy's drain deadline, as a long download
  // or session would; a drain that cut it earlier shows as an end that was not the client's.
  const busyEnd = await waitFor(async () => {
    if (Date.now() - decisionAt >= drainMs * options.busyTunnelShare) return 'due';
    return (await tunnels.ended(busy.id)) ? 'ended' : undefined;
  }, drainMs);
  if (busyEnd === 'due') tunnels.close(busy.id);
  const terminations = await leaving;
  const to = Date.now();
  return {
    name,
    title: DRAIN_TITLES[name],
    reading,
    victim: victim.server,
    decisionAt,
    busy: { openedAt: busy.openedAt, end: await tunnels.ended(busy.id, 5_000) },
    idle: { openedAt: idle.openedAt, end: await tunnels.ended(idle.id, 1_000) },
    terminations,
    boundMs: fleet.deregistrationDelayMs,
    idleCloseMs: lifecycle.targetHealthPollMs + lifecycle.pollMs + drainIdleMs + TERMINATION_SLACK_MS,
    clients: traffic.tally('sidecar', startedAt, to),
    markedDown: monitor.markedDown(SIDECAR_LB.backend, busy.openedAt, to),
    durationMs: to - startedAt,
  };
}

export interface DrainVerdict {
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export function judgeDrain(result: DrainResult): DrainVerdict {
  const problems: string[] = [];
  const { busy, idle, decisionAt } = result;
  if (busy.end?.how !== 'client')
    problems.push(`busy tunnel ended by ${busy.end?.how ?? 'nothing'}, not its client`);
  else if (busy.end.echoed !== busy.end.sent) {
    problems.push(`busy tunnel lost bytes (${busy.end.echoed}/${busy.end.sent} echoed)`);
  }
  if (decisionAt - busy.openedAt < result.boundMs) problems.push('busy tunnel was not older than the delay');
  if (idle.end?.how !== 'fin')
    problems.push(`idle tunnel ended by ${idle.end?.how ?? 'nothing'}, not closed by the proxy`);
  else if (idle.end.at - decisionAt > result.idleCloseMs) {
    problems.push(`idle tunnel closed only ${seconds(idle.end.at - decisionAt)} s after the decision`);
  }
  const victim = result.terminations.find((t) => t.server === result.victim);
  if (!victim?.terminatedAt) problems.push(`${result.victim} not terminated`);
  for (const t of result.terminations) {
    if (t.hookEnded !== 'sidecar') problems.push(`${t.server}: hook ended by ${t.hookEnded ?? 'nothing'}`);
    if (!t.terminatedAt || t.terminatedAt - t.decisionAt > result.boundMs + TERMINATION_SLACK_MS) {
      problems.push(`${t.server} not terminated within the bound`);
    }
  }
  if (victim && !victim.delayEndedEarly) problems.push('the deregistration delay ran out (flows left)');
  if (result.clients.failed > 0) problems.push(`${result.clients.failed} client requests failed`);
  if (result.markedDown.length > 0) {
    problems.push(
      `health checks marked ${result.markedDown.join(', ')} down (flows of an unhealthy target are reset)`,
    );
  }
  return { ok: problems.length === 0, problems };
}

const ended = (end: TunnelEnd | undefined, from: number): string =>
  end ? `${seconds(end.at - from)} s after the decision` : 'still open';

export const DRAIN_COLUMNS = [
  'Scenario',
  'Metadata says Terminated',
  'Busy tunnel (a byte every scaled second)',
  'Idle tunnel',
  'Instances left (bound)',
  'Client failures via sidecar LB',
  'As expected',
] as const;

export function drainRow(result: DrainResult): string[] {
  const verdict = judgeDrain(result);
  const { busy, idle, decisionAt } = result;
  const busyCell = busy.end
    ? `${busy.end.how === 'client' ? 'intact, ended by its client' : `cut (${busy.end.how})`} ${ended(busy.end, decisionAt)}, ` +
      `${busy.end.echoed}/${busy.end.sent} bytes back; ${seconds(decisionAt - busy.openedAt)} s old at the decision`
    : 'still open';
  const idleCell = idle.end
    ? `${idle.end.how === 'fin' ? 'closed by the proxy' : idle.end.how} ${ended(idle.end, decisionAt)}`
    : 'still open';
  const left = result.terminations
    .map(
      (t) =>
        `${t.server} ${t.terminatedAt ? `${seconds(t.terminatedAt - t.decisionAt)} s` : 'not terminated'}` +
        `${t.server === result.victim ? ' (tunnels)' : ''}`,
    )
    .join(', ');
  return [
    result.title,
    result.reading === 'at-decision' ? 'at the decision' : 'only at Terminating:Wait',
    busyCell,
    idleCell,
    `${left} (${seconds(result.boundMs)} s)`,
    `${result.clients.failed}/${result.clients.total}`,
    verdict.ok ? 'yes' : `NO: ${verdict.problems.join('; ')}`,
  ];
}
