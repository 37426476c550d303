import type { ToWorker } from './messages.js';

/**
 * The primary's side of `limits.maxConnections` (see SlotLease): the free slots, and how many
 * each worker holds. Grants never exceed what is free, so the leases never sum to more than the
 * limit. A worker that must wait for a slot is answered from the pool, or once the other workers
 * gave back what they held unused; 0 then means every slot is in use.
 */
export class SlotPool {
  private free: number;
  private readonly leases = new Map<number, number>();
  /** Urgent requests waiting for a reclaim to finish. */
  private readonly wanting: { worker: number; count: number }[] = [];
  private readonly reclaiming = new Set<number>();

  constructor(
    max: number,
    /** False when the worker is gone, so nothing is leased to it. */
    private readonly send: (worker: number, message: ToWorker) => boolean,
  ) {
    this.free = max;
  }

  wanted(worker: number, count: number, urgent: boolean): void {
    if (this.free > 0 || !urgent) {
      this.grant(worker, Math.min(count, this.free), urgent);
      return;
    }
    this.wanting.push({ worker, count });
    if (this.reclaiming.size === 0) {
      for (const [other, held] of this.leases) {
        if (other !== worker && held > 0 && this.send(other, { type: 'slots-reclaim' })) {
          this.reclaiming.add(other);
        }
      }
    }
    this.settle();
  }

  returned(worker: number, count: number, reclaimed: boolean): void {
    const held = this.leases.get(worker);
    if (held === undefined) return;
    this.leases.set(worker, held - count);
    this.free += count;
    if (reclaimed) this.reclaiming.delete(worker);
    this.settle();
  }

  /** A worker exited: its connections went with it. */
  forget(worker: number): void {
    this.free += this.leases.get(worker) ?? 0;
    this.leases.delete(worker);
    this.reclaiming.delete(worker);
    for (let i = this.wanting.length - 1; i >= 0; i--) {
      if (this.wanting[i]!.worker === worker) this.wanting.splice(i, 1);
    }
    this.settle();
  }

  /** Serves waiting workers from what is free; once no reclaim is pending, the rest get 0. */
  private settle(): void {
    while (this.wanting.length > 0 && this.free > 0) {
      const { worker, count } = this.wanting.shift()!;
      this.grant(worker, Math.min(count, this.free), true);
    }
    if (this.reclaiming.size === 0) {
      for (const { worker } of this.wanting.splice(0)) this.grant(worker, 0, true);
    }
  }

  private grant(worker: number, count: number, urgent: boolean): void {
    if (!this.send(worker, { type: 'slots-granted', count, urgent })) return;
    this.leases.set(worker, (this.leases.get(worker) ?? 0) + count);
    this.free -= count;
  }
}
