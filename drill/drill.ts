/**
 * The fleet drill: builds the network, the load balancer, the origin, the client and the group,
 * then injects each fault while traffic flows and records what the load balancer, the group and
 * the client saw. Everything it starts is removed in `finally`, whatever happens.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { AutoScalingGroup } from './asg.js';
import { AwsStandIn } from './aws.js';
import { judgeDrain, openBusyTunnels, runDrainScenario, type DrainResult } from './drain.js';
import { must, sleep, waitFor } from './exec.js';
import { FAULTS, type World } from './faults.js';
import { HAProxy, NAIVE_LB, SIDECAR_LB, type BackendName } from './haproxy.js';
import { Monitor } from './monitor.js';
import { acquireLock, createNetwork, makeRunDir, NS, removeLeftovers } from './network.js';
import {
  DRAIN_SCENARIOS,
  readingFor,
  type DrainScenario,
  type DrillOptions,
  type FaultScenario,
  type ScenarioName,
} from './options.js';
import { PolicyService } from './policy.js';
import { killAllStarted, type NsProcess } from './processes.js';
import { judge, type ScenarioResult } from './report.js';
import { spawnScript } from './scripts.js';
import { ORIGIN_READY } from './servers/protocol.js';
import { Traffic, type Tally } from './traffic.js';
import { TunnelClient, type OpenTunnel } from './tunnels.js';

export interface DrillReport {
  readonly mode: DrillOptions['mode'];
  readonly scale: number;
  /** Failure scenarios, in order. */
  readonly results: readonly ScenarioResult[];
  /** Drain scenarios (scale-in, refresh), in order. */
  readonly drains: readonly DrainResult[];
  /** Every scenario's verdict problems (empty: as expected). */
  readonly problems: Readonly<Partial<Record<ScenarioName, readonly string[]>>>;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly haproxyVersion: string;
}

const isDrain = (name: ScenarioName): name is DrainScenario =>
  (DRAIN_SCENARIOS as readonly string[]).includes(name);

interface Window {
  readonly name: FaultScenario;
  readonly from: number;
  readonly to: number;
  readonly partial: Omit<ScenarioResult, 'clients'>;
}

const STEADY_TIMEOUT_MS = 20_000;

export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const log = options.log;
  const started = Date.now();
  const release = acquireLock();
  const leftovers = await removeLeftovers();
  if (leftovers.length) log(`removed leftovers of an earlier run: ${leftovers.join(', ')}`);
  const runDir = makeRunDir();
  let haproxy: HAProxy | undefined;
  let aws: AwsStandIn | undefined;
  let monitor: Monitor | undefined;
  let asg: AutoScalingGroup | undefined;
  let traffic: Traffic | undefined;
  let tunnels: TunnelClient | undefined;
  let origin: NsProcess | undefined;
  let policy: PolicyService | undefined;
  const windows: Window[] = [];
  const drains: DrainResult[] = [];
  let overall: NodeJS.Timeout | undefined;
  try {
    const body = async (): Promise<void> => {
      const version = (await must('haproxy', ['-v'])).split('\n')[0] ?? '';
      log(`drill (${options.mode}, the stack's timings x ${options.scale}): ${version}`);
      await createNetwork();
      origin = spawnScript('origin', NS.internet, 'origin', []);
      haproxy = await HAProxy.start(runDir, options.fleet);
      aws = await AwsStandIn.start();
      await origin.waitForLine(ORIGIN_READY, 10_000);
      // Before any instance: each one boots on the deployed policy, as its launching hook requires.
      policy = await PolicyService.start();
      monitor = new Monitor(haproxy);
      monitor.start(options.maxDurationMs);
      asg = new AutoScalingGroup(haproxy, monitor, aws, runDir, options, readingFor(options, 'proxy-killed'));
      await asg.fill();
      log(
        `fleet in service: ${asg
          .instances()
          .map((i) => `${i.server} ${i.ip}`)
          .join(', ')}`,
      );
      asg.start();
      traffic = await Traffic.start(options);
      const drainNames = options.scenarios.filter(isDrain);
      if (drainNames.length > 0) tunnels = await TunnelClient.start();
      let busyTunnels: Map<DrainScenario, OpenTunnel> | undefined;

      for (const name of options.scenarios) {
        if (Date.now() - started > options.maxDurationMs) throw new Error('drill ran out of time');
        if (!isDrain(name)) windows.push(await runScenario(name, { policy, options }, asg, monitor));
        else {
          const steady = await waitFor(() => (asg!.steady() ? true : undefined), STEADY_TIMEOUT_MS);
          if (!steady) throw new Error(`${name}: the fleet is not steady before it`);
          busyTunnels ??= await openBusyTunnels(drainNames, asg, tunnels!, options);
          const result = await runDrainScenario(
            name,
            busyTunnels.get(name)!,
            options,
            asg,
            tunnels!,
            traffic,
            monitor,
            readingFor(options, name),
          );
          options.log(`scenario ${name}: ${judgeDrain(result).problems.join('; ') || 'as expected'}`);
          drains.push(result);
        }
      }
    };
    const budget = new Promise<never>((_, reject) => {
      overall = setTimeout(
        () => reject(new Error(`drill exceeded ${options.maxDurationMs} ms`)),
        options.maxDurationMs + 10_000,
      );
    });
    await Promise.race([body(), budget]);
    await sleep(options.requestTimeoutMs); // the last requests report
    if (options.dumpFile) {
      const dump = {
        windows,
        drains,
        replacements: asg?.replacements,
        terminations: asg?.terminations,
        lifecycleCalls: aws?.events,
        states: monitor?.dump(),
        requests: traffic?.results,
      };
      writeFileSync(options.dumpFile, JSON.stringify(dump));
    }
    const results = windows.map((w) => ({ ...w.partial, clients: tallies(traffic, w) }));
    const problems: Partial<Record<ScenarioName, readonly string[]>> = {};
    for (const result of results) problems[result.name] = judge(result).problems;
    for (const result of drains) problems[result.name] = judgeDrain(result).problems;
    return {
      mode: options.mode,
      scale: options.scale,
      results,
      drains,
      problems,
      ok: Object.values(problems).every((p) => p.length === 0),
      durationMs: Date.now() - started,
      haproxyVersion: (await must('haproxy', ['-v'])).split('\n')[0] ?? '',
    };
  } finally {
    clearTimeout(overall);
    await tunnels?.stop().catch(() => undefined);
    await traffic?.stop().catch(() => undefined);
    await asg?.stop().catch(() => undefined);
    await monitor?.stop().catch(() => undefined);
    await asg?.terminateAll().catch(() => undefined);
    await haproxy?.process.kill();
    await aws?.process.kill();
    await origin?.kill();
    await policy?.stop();
    await killAllStarted();
    await removeLeftovers();
    rmSync(runDir, { recursive: true, force: true });
    release();
    log(`drill cleaned up after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

function tallies(traffic: Traffic | undefined, w: Window): { sidecar: Tally; naive: Tally } {
  const empty: Tally = { total: 0, failed: 0, reasons: [] };
  return {
    sidecar: traffic?.tally('sidecar', w.from, w.to) ?? empty,
    naive: traffic?.tally('naive', w.from, w.to) ?? empty,
  };
}

async function runScenario(
  name: FaultScenario,
  world: World,
  asg: AutoScalingGroup,
  monitor: Monitor,
): Promise<Window> {
  const { options } = world;
  const fault = FAULTS[name];
  const steady = await waitFor(() => (asg.steady() ? true : undefined), STEADY_TIMEOUT_MS);
  if (!steady) throw new Error(`${name}: the fleet is not steady before the injection`);
  await sleep(options.baselineMs);
  const fleet = asg.instances();
  const victim = [...fleet].sort((a, b) => a.index - b.index)[0];
  if (!victim) throw new Error('no instance in service');
  const replacementsBefore = asg.replacements.length;
  options.log(`scenario ${name}: ${fault.title}${fault.kind === 'replace' ? ` on ${victim.server}` : ''}`);
  const { at, undo, rollout } = await fault.inject(victim, fleet, world);

  let terminatedAt: number | undefined;
  if (fault.kind === 'replace') {
    const budget = replacementBudgetMs(options);
    terminatedAt = await waitFor(
      () => asg.replacements.find((r) => r.victim === victim.server && r.terminatedAt)?.terminatedAt,
      budget,
    );
    if (terminatedAt === undefined) {
      options.log(`scenario ${name}: ${victim.server} was not replaced within ${budget} ms`);
      // Leave the fleet usable for the next scenario: let the group replace what it can.
    }
  } else if (fault.kind === 'hold') {
    await sleep(name === 'internet-outage' ? options.outageMs : options.allowlistHoldMs);
    await undo?.();
  }
  const ended = Date.now();
  await waitFor(() => (asg.steady() ? true : undefined), STEADY_TIMEOUT_MS);
  await sleep(options.settleMs);
  const to = Date.now();

  const replacement = asg.replacements.slice(replacementsBefore).find((r) => r.victim === victim.server);
  // The naive load balancer drops the victim when the group deregisters it.
  const naiveUntil = replacement?.deregisteredAt ?? terminatedAt ?? ended;
  // A victim's detection counts while it is registered; a fleet-wide fault's, for any instance.
  const watched = fault.kind === 'replace' ? [victim] : fleet;
  const firstDown = (backend: BackendName): number | undefined => {
    const times = watched
      .map((i) => monitor.firstDown(backend, i.server, at, naiveUntil))
      .filter((t): t is number => t !== undefined);
    return times.length ? Math.min(...times) : undefined;
  };
  const partial: Omit<ScenarioResult, 'clients'> = {
    name,
    title: fault.title,
    kind: fault.kind,
    victim: fault.kind === 'replace' ? victim.server : undefined,
    sidecarDetectMs: since(at, firstDown(SIDECAR_LB.backend)),
    naiveDetectMs: since(at, firstDown(NAIVE_LB.backend)),
    naiveWatchedMs: naiveUntil - at,
    replacedMs: since(at, replacement?.inServiceAt),
    replacement: replacement?.replacement,
    removed: asg.replacements.slice(replacementsBefore).map((r) => r.victim),
    heldDown: monitor.markedDown(SIDECAR_LB.backend, at, to),
    durationMs: to - at,
    ...(rollout ? { rollout } : {}),
  };
  options.log(
    `scenario ${name}: sidecar ${partial.sidecarDetectMs ?? '-'} ms, naive ${partial.naiveDetectMs ?? '-'} ms, ` +
      `replaced ${partial.replacedMs ?? '-'} ms`,
  );
  return { name, from: at, to, partial };
}

/**
 * Longest a failure replacement may take, from the stack's timings: detection, the group's pickup,
 * a launch through its hook to the healthy threshold, and a termination through the delay and a
 * terminating hook that runs to its timeout (a dead sidecar).
 */
function replacementBudgetMs(options: DrillOptions): number {
  const { fleet, launchTimeoutMs } = options;
  const detection = fleet.check.intervalMs * (fleet.check.unhealthyThreshold + 1) + fleet.check.timeoutMs;
  const launch =
    launchTimeoutMs +
    fleet.hooks.launching.timeoutMs +
    fleet.check.intervalMs * (fleet.check.healthyThreshold + 2);
  const termination = fleet.deregistrationDelayMs + fleet.hooks.terminating.timeoutMs;
  return detection + fleet.asgPickupMs + launch + termination + 5_000;
}

const since = (from: number, at: number | undefined): number | undefined =>
  at === undefined ? undefined : at - from;
