import { describe, expect, it } from 'vitest';
import {
  LifecycleController,
  type LifecycleTiming,
} from '../../../../proxy-app/src/sidecar/lifecycle/controller.js';
import { RecordingActions, ScriptedProxy, silentLogger, VirtualClock } from './fakes.js';

const timing: LifecycleTiming = {
  readySuccesses: 3,
  launchTimeoutMs: 240_000,
  probeIntervalMs: 1_000,
  heartbeatMs: 60_000,
  pollMs: 5_000,
  drainMs: 300_000,
};

interface Scenario {
  /** Target lifecycle states read from IMDS, one per poll; the last repeats. */
  states: (string | Error)[];
  probes?: boolean[];
  tunnels?: number[];
}

async function runScenario({ states, probes = [true], tunnels = [0] }: Scenario) {
  const clock = new VirtualClock();
  const actions = new RecordingActions(clock);
  const proxy = new ScriptedProxy(clock, [...tunnels]);
  let draining = false;
  let probeCount = 0;
  const queue = [...states];
  const controller = new LifecycleController({
    targetState: async () => {
      const next = queue.length > 1 ? queue.shift()! : queue[0]!;
      if (next instanceof Error) throw next;
      return next;
    },
    probe: async () => probes[Math.min(probeCount++, probes.length - 1)]!,
    actions,
    proxy,
    startDraining: () => (draining = true),
    clock,
    logger: silentLogger,
    timing,
  });
  await controller.run();
  return { calls: actions.calls, proxy, draining, probeCount, phase: controller.phase, clock };
}

describe('LifecycleController', () => {
  it('ready: CONTINUEs the launch after readySuccesses probes in a row, then drains on Terminated', async () => {
    const result = await runScenario({ states: ['InService', 'InService', 'Terminated'] });
    expect(result.calls.map((c) => c.call)).toEqual([
      'complete launch CONTINUE',
      'deregister',
      'complete terminate CONTINUE',
    ]);
    expect(result.probeCount).toBe(3);
    expect(result.draining).toBe(true);
    expect(result.phase).toBe('terminated');
  });

  it('restarts the count when a probe fails in between', async () => {
    const result = await runScenario({
      states: ['InService', 'Terminated'],
      probes: [true, true, false, true, true, true],
    });
    expect(result.probeCount).toBe(6);
    expect(result.calls[0]!.call).toBe('complete launch CONTINUE');
  });

  it('never ready: ABANDONs the launch once launchTimeoutMs has passed', async () => {
    const result = await runScenario({ states: ['InService', 'Terminated'], probes: [false] });
    const abandon = result.calls.find((c) => c.call === 'complete launch ABANDON');
    expect(abandon).toBeDefined();
    expect(abandon!.at).toBeGreaterThanOrEqual(timing.launchTimeoutMs);
    expect(result.calls.some((c) => c.call === 'complete launch CONTINUE')).toBe(false);
  });

  it('drain complete: waits for open tunnels to finish, then stops the proxy and CONTINUEs', async () => {
    const result = await runScenario({ states: ['Terminated'], tunnels: [3, 2, 1, 0] });
    expect(result.calls.map((c) => c.call)).toEqual(['deregister', 'complete terminate CONTINUE']);
    expect(result.proxy.stoppedAt).toBe(3_000);
    expect(result.calls.at(-1)!.at).toBeGreaterThanOrEqual(result.proxy.stoppedAt!);
  });

  it('drain deadline: heartbeats while tunnels stay open, stops the proxy at the deadline', async () => {
    const result = await runScenario({ states: ['Terminated'], tunnels: [5] });
    const heartbeats = result.calls.filter((c) => c.call === 'heartbeat');
    expect(heartbeats.map((c) => c.at)).toEqual([60_000, 120_000, 180_000, 240_000]);
    expect(result.proxy.stoppedAt).toBe(timing.drainMs);
    expect(result.calls.at(-1)!.call).toBe('complete terminate CONTINUE');
  });

  it('skips the launch when the instance is terminating from the start, and ignores other states', async () => {
    const result = await runScenario({ states: ['Standby', 'Detached', 'Terminated'] });
    expect(result.calls.map((c) => c.call)).toEqual(['deregister', 'complete terminate CONTINUE']);
    expect(result.probeCount).toBe(0);
  });

  it('keeps polling when instance metadata cannot be read', async () => {
    const result = await runScenario({
      states: [new Error('connect ECONNREFUSED'), new Error('timeout'), 'Terminated'],
    });
    expect(result.calls.map((c) => c.call)).toEqual(['deregister', 'complete terminate CONTINUE']);
    expect(result.clock.now()).toBeGreaterThanOrEqual(2 * timing.pollMs);
  });
});
