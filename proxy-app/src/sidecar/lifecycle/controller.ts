import type { Logger } from '../../log/logger.js';
import type { LifecycleActions, TargetState } from './actions.js';
import type { Clock } from './clock.js';
import type { ProxyControl } from './proxy-control.js';

export type Phase = 'watching' | 'launching' | 'in-service' | 'draining' | 'drained' | 'terminated';
/** What told the instance it is leaving: instance metadata, or the load balancer's view of it. */
export type DrainTrigger = 'metadata' | 'target-health';

export interface LifecycleTiming {
  readonly readySuccesses: number;
  readonly launchTimeoutMs: number;
  /** Between readiness probes; at least the probe cache, so each probe is a new one. */
  readonly probeIntervalMs: number;
  readonly heartbeatMs: number;
  /** Instance metadata reads. */
  readonly pollMs: number;
  /** Target health reads (AWS API calls, so rarer than metadata reads). */
  readonly targetHealthPollMs: number;
  /** The proxy's own drain deadline; the sidecar waits for it, plus a little. */
  readonly drainMs: number;
  /** Once drained, how long to keep offering the terminating hook its completion. */
  readonly terminateWaitMs: number;
}

export interface LifecycleDeps {
  /** IMDS `autoscaling/target-lifecycle-state`; throws when metadata cannot be read. */
  readonly targetState: () => Promise<string | null>;
  /** One proxied health probe (the same one `/healthcheck` uses). */
  readonly probe: () => Promise<boolean>;
  readonly actions: LifecycleActions;
  readonly proxy: ProxyControl;
  /** Makes `/healthcheck` answer 200 `leaving` without probing the draining proxy. */
  readonly markLeaving: () => void;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly timing: LifecycleTiming;
}

/** Beyond the proxy's drain deadline, its last graceful closes get this long. */
const DRAIN_GRACE_MS = 5_000;

/**
 * Follows the instance's Auto Scaling lifecycle from inside it.
 *
 * Launch: while the target state is InService and a launch may be pending, it waits for several
 * local probes in a row, then completes the launching hook with CONTINUE, or ABANDON past the
 * deadline (never from target health: the instance is registered only after the hook completes).
 *
 * Termination, in the documented order (aws-facts.md §2.2): the group deregisters the instance,
 * the load balancer drains it for the deregistration delay (ended early once the instance holds no
 * connection, §9), only then the terminating hook waits (Terminating:Wait). Instance metadata may
 * report Terminated at the decision or only at Terminating:Wait (undocumented, §9), so the drain
 * starts on whichever comes first: metadata saying Terminated, or the target turning `draining`
 * (or gone, after it was registered). The proxy then drains (proxy/drain.ts); once it holds no
 * connection, the hook is completed with CONTINUE as soon as it exists: "No active Lifecycle
 * Action" means "not yet", and is retried until `terminateWaitMs` has passed.
 */
export class LifecycleController {
  phase: Phase = 'watching';

  constructor(private readonly deps: LifecycleDeps) {}

  /** Runs until the instance has been released for termination (or can no longer be). */
  async run(): Promise<void> {
    const { clock, logger, timing } = this.deps;
    let launchHandled = false;
    let seenRegistered = false;
    let nextTargetRead = 0;
    for (;;) {
      const state = await this.readState();
      if (state === 'InService' && !launchHandled) {
        launchHandled = true;
        await this.launch();
      } else if (state === 'Terminated') {
        return this.terminate('metadata');
      } else if (state !== null && state !== 'InService') {
        logger.debug({ state }, 'target lifecycle state');
      }
      if (launchHandled && clock.now() >= nextTargetRead) {
        nextTargetRead = clock.now() + timing.targetHealthPollMs;
        const target = await this.readTarget();
        if (target === 'registered') seenRegistered = true;
        if (target === 'deregistering' || (target === 'not-registered' && seenRegistered)) {
          return this.terminate('target-health');
        }
      }
      await clock.sleep(timing.pollMs);
    }
  }

  private async readState(): Promise<string | null> {
    try {
      return await this.deps.targetState();
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, 'cannot read the target lifecycle state');
      return null;
    }
  }

  private async readTarget(): Promise<TargetState | null> {
    try {
      return await this.deps.actions.targetState();
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, 'cannot read the target health');
      return null;
    }
  }

  private async launch(): Promise<void> {
    const { clock, logger, timing, actions } = this.deps;
    this.transition('launching');
    const deadline = clock.now() + timing.launchTimeoutMs;
    let inARow = 0;
    while (clock.now() < deadline) {
      inARow = (await this.deps.probe()) ? inARow + 1 : 0;
      if (inARow >= timing.readySuccesses) {
        logger.info({ probes: inARow }, 'ready: completing the launch with CONTINUE');
        // No active action here is a restarted sidecar on a running instance: nothing to do.
        await this.settle(() => actions.complete('launch', 'CONTINUE'));
        this.transition('in-service');
        return;
      }
      await clock.sleep(timing.probeIntervalMs);
    }
    logger.error({ launchTimeoutMs: timing.launchTimeoutMs }, 'never ready: abandoning the launch');
    await this.settle(() => actions.complete('launch', 'ABANDON'));
    this.transition('in-service');
  }

  private async terminate(trigger: DrainTrigger): Promise<void> {
    const { clock, logger, timing, actions, proxy } = this.deps;
    this.transition('draining');
    logger.info({ trigger }, 'leaving the fleet: draining');
    this.deps.markLeaving();
    if (trigger === 'metadata') {
      // Metadata may say Terminated before the group deregistered the instance: do it now, and
      // let the load balancer stop sending new flows before the proxy drains.
      await this.settle(() => actions.deregister());
      await this.awaitDeregistration();
    }
    if (!(await proxy.drain())) logger.warn('the proxy did not take the drain (not running?)');
    let nextHeartbeat = clock.now() + timing.heartbeatMs;
    const heartbeatIfDue = async (): Promise<void> => {
      if (clock.now() < nextHeartbeat) return;
      nextHeartbeat = clock.now() + timing.heartbeatMs;
      await this.settle(() => actions.heartbeat());
    };
    const drainDeadline = clock.now() + timing.drainMs + DRAIN_GRACE_MS;
    for (;;) {
      const open = await proxy.openConnections();
      if (open === 0) break;
      if (clock.now() >= drainDeadline) {
        logger.warn({ open }, 'the proxy still holds connections after its drain deadline');
        break;
      }
      await heartbeatIfDue();
      await clock.sleep(Math.min(1_000, timing.pollMs));
    }
    this.transition('drained');
    const giveUpAt = clock.now() + timing.terminateWaitMs;
    for (;;) {
      const completion = await this.settle(() => actions.complete('terminate', 'CONTINUE'));
      if (completion === 'completed') break;
      if (completion === undefined) return; // failed for good: the hook's default result applies
      if (clock.now() >= giveUpAt) {
        logger.error(
          { terminateWaitMs: timing.terminateWaitMs },
          'no terminating lifecycle action came: the instance stays drained (deregistered without being terminated?)',
        );
        return;
      }
      await clock.sleep(timing.pollMs);
    }
    this.transition('terminated');
  }

  /** After a self-deregistration: until the load balancer shows it (bounded; the drain goes on regardless). */
  private async awaitDeregistration(): Promise<void> {
    const { clock, timing } = this.deps;
    const until = clock.now() + 2 * timing.targetHealthPollMs;
    while (clock.now() < until) {
      const target = await this.readTarget();
      if (target === 'deregistering' || target === 'not-registered') return;
      await clock.sleep(timing.pollMs);
    }
    this.deps.logger.warn('the load balancer does not show the deregistration yet; draining anyway');
  }

  /** An AWS call that still failed after its retries is logged and yields undefined. */
  private async settle<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (error) {
      this.deps.logger.error(
        { err: (error as Error).message, phase: this.phase },
        'AWS call failed for good',
      );
      return undefined;
    }
  }

  private transition(phase: Phase): void {
    this.deps.logger.info({ from: this.phase, to: phase }, 'lifecycle');
    this.phase = phase;
  }
}
