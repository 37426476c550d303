import type { Logger } from '../../log/logger.js';
import type { LifecycleActions } from './actions.js';
import type { Clock } from './clock.js';
import type { ProxyControl } from './proxy-control.js';

export type Phase = 'watching' | 'launching' | 'in-service' | 'draining' | 'terminated';

export interface LifecycleTiming {
  readonly readySuccesses: number;
  readonly launchTimeoutMs: number;
  /** Between readiness probes; at least the probe cache, so each probe is a new one. */
  readonly probeIntervalMs: number;
  readonly heartbeatMs: number;
  readonly pollMs: number;
  /** Open tunnels get this long to finish before the proxy is stopped. */
  readonly drainMs: number;
}

export interface LifecycleDeps {
  /** IMDS `autoscaling/target-lifecycle-state`; throws when metadata cannot be read. */
  readonly targetState: () => Promise<string | null>;
  /** One proxied health probe (the same one `/healthcheck` uses). */
  readonly probe: () => Promise<boolean>;
  readonly actions: LifecycleActions;
  readonly proxy: ProxyControl;
  /** Makes `/healthcheck` answer 503 `draining`. */
  readonly startDraining: () => void;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly timing: LifecycleTiming;
}

/**
 * Follows Auto Scaling lifecycle hooks from the instance. While the target state is InService
 * and a launch may be pending, it waits for several local probes in a row, then completes the
 * launch hook with CONTINUE, or with ABANDON if the deadline passes (never from target health: the
 * instance is registered only after the hook completes). When the target state turns Terminated,
 * it drains: 503 to health checks, deregister, wait for tunnels (heartbeating), stop the proxy,
 * CONTINUE.
 */
export class LifecycleController {
  phase: Phase = 'watching';

  constructor(private readonly deps: LifecycleDeps) {}

  /** Runs until the instance has been released for termination. */
  async run(): Promise<void> {
    const { clock, logger, timing } = this.deps;
    let launchHandled = false;
    while (this.phase !== 'terminated') {
      const state = await this.readState();
      if (state === 'InService' && !launchHandled) {
        launchHandled = true;
        await this.launch();
      } else if (state === 'Terminated') {
        await this.drain();
        return;
      } else if (state !== null && state !== 'InService') {
        logger.debug({ state }, 'target lifecycle state');
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

  private async launch(): Promise<void> {
    const { clock, logger, timing, actions } = this.deps;
    this.transition('launching');
    const deadline = clock.now() + timing.launchTimeoutMs;
    let inARow = 0;
    while (clock.now() < deadline) {
      inARow = (await this.deps.probe()) ? inARow + 1 : 0;
      if (inARow >= timing.readySuccesses) {
        logger.info({ probes: inARow }, 'ready: completing the launch with CONTINUE');
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

  private async drain(): Promise<void> {
    const { clock, logger, timing, actions, proxy } = this.deps;
    this.transition('draining');
    this.deps.startDraining();
    await this.settle(() => actions.deregister());
    const deadline = clock.now() + timing.drainMs;
    let lastHeartbeat = clock.now();
    for (;;) {
      const tunnels = await proxy.openTunnels();
      if (tunnels === 0) {
        logger.info('no open tunnels left');
        break;
      }
      if (clock.now() >= deadline) {
        logger.warn({ tunnels }, 'drain deadline reached with tunnels open');
        break;
      }
      if (clock.now() - lastHeartbeat >= timing.heartbeatMs) {
        lastHeartbeat = clock.now();
        await this.settle(() => actions.heartbeat());
      }
      logger.info({ tunnels, remainingMs: deadline - clock.now() }, 'waiting for open tunnels');
      await clock.sleep(Math.min(1_000, timing.heartbeatMs));
    }
    logger.info('stopping the proxy');
    await proxy.stop(timing.drainMs);
    await this.settle(() => actions.complete('terminate', 'CONTINUE'));
    this.transition('terminated');
  }

  /** An AWS call that still failed after its retries is logged; the hook's default result applies. */
  private async settle(call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.deps.logger.error(
        { err: (error as Error).message, phase: this.phase },
        'AWS call failed for good',
      );
    }
  }

  private transition(phase: Phase): void {
    this.deps.logger.info({ from: this.phase, to: phase }, 'lifecycle');
    this.phase = phase;
  }
}
