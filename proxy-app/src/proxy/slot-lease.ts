import { availableParallelism } from 'node:os';
import type { EgressProxyConfig } from '../config/schema.js';
import type { ToPrimary } from './messages.js';

/** A connection waiting for the primary is refused if no answer came within this. */
const GRANT_WAIT_MS = 1_000;

/** Worker processes the config asks for. */
export function workerCount(config: EgressProxyConfig): number {
  return config.proxy.workers === 'auto' ? availableParallelism() : config.proxy.workers;
}

/** Slots a worker asks for at a time: enough that IPC is rare, small enough to share the pool. */
export function leaseBatch(config: EgressProxyConfig): number {
  return Math.max(1, Math.min(256, Math.floor(config.limits.maxConnections / (8 * workerCount(config)))));
}

/**
 * This worker's share of `limits.maxConnections`. The primary owns the pool (SlotPool) and leases
 * slots in batches, so admitting a connection is a counter check with no IPC; a worker asks for
 * more when its spare slots run low and gives back a surplus. Only when its lease is used up does
 * a new connection wait for the primary, which grants from the pool or, when the pool is empty,
 * reclaims what other workers hold unused, and answers 0 when every slot is in use. A worker
 * admits only within its lease and leases never sum to more than the limit: the limit is exact.
 */
export class SlotLease {
  private held = 0;
  private used = 0;
  private toppingUp = false;
  private askingUrgently = false;
  private readonly waiting: ((admitted: boolean) => void)[] = [];
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly batch: number,
    private readonly send: (message: ToPrimary) => void,
  ) {}

  /** Takes a slot if this worker holds a spare one; false means `wait`. */
  take(): boolean {
    if (this.used >= this.held) return false;
    this.used++;
    if (this.held - this.used < this.batch / 2) this.ask(false);
    return true;
  }

  /** Waits for a slot from the primary; `admitted` is false when every slot is in use. */
  wait(callback: (admitted: boolean) => void): void {
    this.waiting.push(callback);
    this.waitTimer ??= setTimeout(() => this.refuseWaiting(), GRANT_WAIT_MS);
    this.ask(true);
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) {
      next(true);
      return;
    }
    this.used--;
    const spare = this.held - this.used;
    if (spare > 2 * this.batch) this.giveBack(spare - this.batch, false);
  }

  /** The primary's answer to a request (a top-up, or an urgent one for waiting connections). */
  granted(count: number, urgent: boolean): void {
    if (urgent) this.askingUrgently = false;
    else this.toppingUp = false;
    this.held += count;
    while (this.waiting.length > 0 && this.used < this.held) {
      this.used++;
      this.waiting.shift()!(true);
    }
    if (this.waiting.length === 0) {
      clearTimeout(this.waitTimer);
      this.waitTimer = undefined;
    } else if (urgent && count === 0) {
      this.refuseWaiting();
    } else {
      this.ask(true);
    }
  }

  /** The pool is empty and another worker is waiting: give back every slot not in use. */
  reclaim(): void {
    this.giveBack(this.held - this.used, true);
  }

  private ask(urgent: boolean): void {
    if (urgent ? this.askingUrgently : this.toppingUp) return;
    if (urgent) this.askingUrgently = true;
    else this.toppingUp = true;
    const count = urgent ? Math.max(this.batch, this.waiting.length) : this.batch;
    this.send({ type: 'slots-wanted', count, urgent });
  }

  private giveBack(count: number, reclaimed: boolean): void {
    this.held -= count;
    this.send({ type: 'slots-returned', count, reclaimed });
  }

  private refuseWaiting(): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    for (const callback of this.waiting.splice(0)) callback(false);
  }
}
