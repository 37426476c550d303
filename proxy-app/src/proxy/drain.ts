import type { Server } from 'node:http';
import type { WorkerContext } from './context.js';

const SWEEP_MS = 100;
/** Kept-alive connections that turn idle while draining are closed this often. */
const IDLE_CONNECTIONS_EVERY_MS = 1_000;

/**
 * One worker's drain. From its start: requests on kept-alive connections are answered and then
 * the connection closes (idle ones at once); a tunnel idle for `timeouts.drainIdleMs` is closed;
 * tunnels still moving bytes run until they end or `timeouts.drainMs` has passed, then what is
 * left is closed. The listener stays open, since the load balancer may still send a flow while
 * deregistration propagates (such a request is answered 503 "draining"); `stop()` also closes
 * it and calls `onStopped` once nothing is left or at the deadline (SIGTERM).
 */
export class WorkerDrain {
  private deadline: number | undefined;
  private deadlinePassed = false;
  private stopping = false;
  private sweep: NodeJS.Timeout | undefined;
  private lastIdleSweep = 0;

  constructor(
    private readonly context: WorkerContext,
    private readonly server: Server,
    private readonly onStopped: () => void,
  ) {}

  /** Starts the drain (again: no effect, the first deadline holds). */
  start(): void {
    if (this.deadline !== undefined) return;
    const { context } = this;
    context.draining = true;
    this.deadline = Date.now() + context.config.timeouts.drainMs;
    context.logger.info(
      {
        tunnels: context.tunnels.size,
        forwards: context.forwardsInFlight,
        drainMs: context.config.timeouts.drainMs,
      },
      'draining',
    );
    this.sweep = setInterval(() => this.tick(), SWEEP_MS);
    this.tick();
  }

  /** Drains, stops accepting, and reports when this worker holds nothing more. */
  stop(): void {
    this.start();
    if (this.stopping) return;
    this.stopping = true;
    this.server.close();
    this.sweep ??= setInterval(() => this.tick(), SWEEP_MS);
    this.tick();
  }

  private finish(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
  }

  private tick(): void {
    if (this.sweep === undefined) return;
    const { context, server } = this;
    const now = Date.now();
    for (const tunnel of context.tunnels) tunnel.closeWhenIdle(context.config.timeouts.drainIdleMs);
    if (now - this.lastIdleSweep >= IDLE_CONNECTIONS_EVERY_MS) {
      this.lastIdleSweep = now;
      server.closeIdleConnections();
    }
    const empty = context.tunnels.size === 0 && context.forwardsInFlight === 0;
    if (!this.deadlinePassed && now >= this.deadline!) {
      this.deadlinePassed = true;
      if (!empty) {
        context.logger.warn(
          { tunnels: context.tunnels.size, forwards: context.forwardsInFlight },
          'drain deadline: closing what is left',
        );
        for (const tunnel of context.tunnels) tunnel.close();
        server.closeAllConnections();
      }
    }
    if (this.stopping && (empty || this.deadlinePassed)) {
      this.finish();
      this.onStopped();
    } else if (this.deadlinePassed) this.finish();
  }
}
