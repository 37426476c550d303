import { describe, expect, it } from 'vitest';
import {
  LifecycleController,
  type LifecycleTiming,
} from '../../../../proxy-app/src/sidecar/lifecycle/controller.js';
import type { TargetState } from '../../../../proxy-app/src/sidecar/lifecycle/actions.js';
import { ScriptedActions, ScriptedProxy, silentLogger, VirtualClock, type AwsScript } from './fakes.js';

const timing: LifecycleTiming = {
  readySuccesses: 3,
  launchTimeoutMs: 240_000,
  probeIntervalMs: 1_000,
  heartbeatMs: 60_000,
  pollMs: 5_000,
  targetHealthPollMs: 10_000,
  drainMs: 285_000,
  terminateWaitMs: 360_000,
};

interface Scenario extends AwsScript {
  /** The target lifecycle state in instance metadata at `now`; an Error is a failed read. */
  metadata: (now: number) => string | Error;
  probes?: boolean[];
  /** Open connections the proxy reports, one per read after the drain; the last repeats. */
  connections?: number[];
}

async function runScenario({ metadata, probes = [true], connections = [0], ...script }: Scenario) {
  const clock = new VirtualClock();
  const actions = new ScriptedActions(clock, script);
  const proxy = new ScriptedProxy(clock, [...connections]);
  let leavingAt: number | undefined;
  let probeCount = 0;
  const controller = new LifecycleController({
    targetState: async () => {
      const state = metadata(clock.now());
      if (state instanceof Error) throw state;
      return state;
    },
    probe: async () => probes[Math.min(probeCount++, probes.length - 1)]!,
    actions,
    proxy,
    markLeaving: () => (leavingAt ??= clock.now()),
    clock,
    logger: silentLogger,
    timing,
  });
  await controller.run();
  const at = (call: string) => actions.calls.find((c) => c.call === call)?.at;
  return { actions, proxy, leavingAt, probeCount, phase: controller.phase, clock, at };
}

/** The documented order (aws-facts.md §2.2): decision, deregistration, delay, then Terminating:Wait. */
const DECISION = 100_000;
const DEREGISTERED = DECISION + 2_000;
/** When the load balancer ends the delay: early, as soon as the proxy holds no connection. */
const WAIT_BEGINS = DEREGISTERED + 40_000;
const targetFrom =
  (deregisteredAt: number, gone = WAIT_BEGINS) =>
  (now: number): TargetState =>
    now < deregisteredAt ? 'registered' : now < gone ? 'deregistering' : 'not-registered';
const hookFrom = (at: number) => (now: number) => now >= at;

describe('LifecycleController: launch', () => {
  it('CONTINUEs the launch after readySuccesses probes in a row', async () => {
    const result = await runScenario({
      metadata: (now) => (now < 30_000 ? 'InService' : 'Terminated'),
    });
    expect(result.actions.sequence()[0]).toBe('complete launch CONTINUE');
    expect(result.probeCount).toBe(3);
  });

  it('restarts the count when a probe fails in between', async () => {
    const result = await runScenario({
      metadata: (now) => (now < 30_000 ? 'InService' : 'Terminated'),
      probes: [true, true, false, true, true, true],
    });
    expect(result.probeCount).toBe(6);
    expect(result.actions.sequence()[0]).toBe('complete launch CONTINUE');
  });

  it('never ready: ABANDONs the launch once launchTimeoutMs has passed', async () => {
    const result = await runScenario({
      metadata: (now) => (now < 300_000 ? 'InService' : 'Terminated'),
      probes: [false],
    });
    expect(result.at('complete launch ABANDON')).toBeGreaterThanOrEqual(timing.launchTimeoutMs);
    expect(result.at('complete launch CONTINUE')).toBeUndefined();
  });
});

describe('LifecycleController: leaving the fleet, under both readings of instance metadata', () => {
  it('metadata says Terminated at the decision: deregisters, waits for the load balancer, drains, completes once the hook is active', async () => {
    const result = await runScenario({
      metadata: (now) => (now < DECISION ? 'InService' : 'Terminated'),
      target: targetFrom(DEREGISTERED),
      hookActive: hookFrom(WAIT_BEGINS),
    });
    const seq = result.actions.sequence();
    expect(seq.slice(0, 2)).toEqual(['complete launch CONTINUE', 'deregister']);
    // The proxy drains only once the load balancer shows the deregistration.
    expect(result.proxy.drainedAt).toBeGreaterThanOrEqual(DEREGISTERED);
    expect(result.leavingAt).toBeLessThanOrEqual(result.proxy.drainedAt!);
    // "No active Lifecycle Action" before Terminating:Wait is retried, never taken as done.
    expect(seq).toContain('complete terminate CONTINUE: no active action');
    const completed = result.at('complete terminate CONTINUE');
    expect(completed).toBeGreaterThanOrEqual(WAIT_BEGINS);
    expect(completed! - WAIT_BEGINS).toBeLessThanOrEqual(timing.pollMs);
    expect(result.phase).toBe('terminated');
  });

  it('metadata says Terminated only at Terminating:Wait: the target turning draining starts the drain', async () => {
    const result = await runScenario({
      metadata: (now) => (now < WAIT_BEGINS ? 'InService' : 'Terminated'),
      target: targetFrom(DEREGISTERED),
      hookActive: hookFrom(WAIT_BEGINS),
    });
    // Within one target-health poll (plus one metadata poll) of the deregistration, long before
    // the hook: the proxy gets the deregistration delay to drain in.
    expect(result.proxy.drainedAt).toBeGreaterThanOrEqual(DEREGISTERED);
    expect(result.proxy.drainedAt! - DEREGISTERED).toBeLessThanOrEqual(
      timing.targetHealthPollMs + timing.pollMs,
    );
    // The load balancer deregistered it already: no second deregistration.
    expect(result.actions.sequence()).not.toContain('deregister');
    expect(result.at('complete terminate CONTINUE')).toBeGreaterThanOrEqual(WAIT_BEGINS);
    expect(result.phase).toBe('terminated');
  });

  it('a target gone from the group after it was registered counts as deregistered (the delay ended between two reads)', async () => {
    const result = await runScenario({
      metadata: () => 'InService',
      target: targetFrom(DEREGISTERED, DEREGISTERED),
      hookActive: hookFrom(DEREGISTERED + 1_000),
    });
    expect(result.proxy.drainedAt).toBeGreaterThanOrEqual(DEREGISTERED);
    expect(result.phase).toBe('terminated');
  });

  it('a target not registered yet (launch still in progress) is not a reason to drain', async () => {
    const result = await runScenario({
      metadata: (now) => (now < 200_000 ? 'InService' : 'Terminated'),
      target: (now) => (now < 60_000 ? 'not-registered' : 'registered'),
      hookActive: hookFrom(200_000),
    });
    expect(result.proxy.drainedAt).toBeGreaterThanOrEqual(200_000);
  });

  it('waits for the proxy to hold no connection before completing, heartbeating once the hook is active', async () => {
    const result = await runScenario({
      metadata: (now) => (now < DECISION ? 'InService' : 'Terminated'),
      target: targetFrom(DEREGISTERED),
      // The load balancer would end the delay only at its end: the hook comes late.
      hookActive: hookFrom(DEREGISTERED + 100_000),
      connections: [...Array<number>(150).fill(3), 1, 0],
    });
    const drained = result.proxy.drainedAt!;
    const completed = result.at('complete terminate CONTINUE')!;
    expect(completed).toBeGreaterThanOrEqual(drained + 150_000);
    expect(result.actions.calls.filter((c) => c.call === 'heartbeat').length).toBeGreaterThanOrEqual(1);
  });

  it('stops waiting for connections at the proxy’s drain deadline', async () => {
    const result = await runScenario({
      metadata: (now) => (now < DECISION ? 'InService' : 'Terminated'),
      target: targetFrom(DEREGISTERED),
      hookActive: hookFrom(DEREGISTERED + 10_000),
      connections: [1],
    });
    const waited = result.at('complete terminate CONTINUE')! - result.proxy.drainedAt!;
    expect(waited).toBeGreaterThanOrEqual(timing.drainMs);
    expect(waited).toBeLessThanOrEqual(timing.drainMs + 10_000);
  });

  it('gives up (staying drained) when no terminating action comes within terminateWaitMs', async () => {
    const result = await runScenario({
      metadata: () => 'InService',
      target: targetFrom(DEREGISTERED, Infinity),
      hookActive: () => false,
    });
    const attempts = result.actions.calls.filter((c) => c.call.startsWith('complete terminate'));
    expect(attempts.length).toBeGreaterThan(1);
    expect(attempts.at(-1)!.at - attempts[0]!.at).toBeGreaterThanOrEqual(timing.terminateWaitMs);
    expect(result.phase).toBe('drained');
  });

  it('without target health (AccessDenied), falls back to metadata at Terminating:Wait', async () => {
    const denied = Object.assign(new Error('not authorized: elasticloadbalancing:DescribeTargetHealth'), {
      name: 'AccessDenied',
    });
    const result = await runScenario({
      metadata: (now) => (now < WAIT_BEGINS ? 'InService' : 'Terminated'),
      target: () => denied,
      hookActive: hookFrom(WAIT_BEGINS),
    });
    expect(result.proxy.drainedAt).toBeGreaterThanOrEqual(WAIT_BEGINS);
    expect(result.phase).toBe('terminated');
  });

  it('keeps polling when instance metadata cannot be read', async () => {
    const result = await runScenario({
      metadata: (now) => (now < 10_000 ? new Error('connect ECONNREFUSED') : 'Terminated'),
    });
    expect(result.actions.sequence()).toContain('complete terminate CONTINUE');
    expect(result.clock.now()).toBeGreaterThanOrEqual(10_000);
  });
});
