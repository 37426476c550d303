/**
 * The load balancer's view over time: polls HAProxy's runtime API every `everyMs` and keeps each
 * server's status changes with their times. The "Auto Scaling group" and the report read it.
 */
import { sleep } from './exec.js';
import type { BackendName, HAProxy } from './haproxy.js';

export interface StatusChange {
  readonly at: number;
  readonly status: string;
}

/** HAProxy reports "DOWN" or "DOWN 1/2" (down, one check passed) for a server out of rotation. */
export const isDown = (status: string | undefined): boolean => status?.startsWith('DOWN') ?? false;
export const isUp = (status: string | undefined): boolean => status === 'UP';
/** Taking flows: "UP", "UP 1/2" (one check failed), or "DRAIN" (deregistered, flows still open). */
const inService = (status: string | undefined): boolean =>
  (status?.startsWith('UP') ?? false) || (status?.startsWith('DRAIN') ?? false);

export class Monitor {
  private readonly history = new Map<string, StatusChange[]>();
  private current = new Map<string, string>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  /** Consecutive failed polls; the drill aborts when HAProxy stops answering. */
  failures = 0;

  constructor(
    private readonly haproxy: HAProxy,
    private readonly everyMs = 100,
  ) {}

  start(maxDurationMs: number): void {
    const deadline = Date.now() + maxDurationMs;
    this.loop = (async () => {
      const maxPolls = Math.ceil(maxDurationMs / this.everyMs);
      for (let poll = 0; poll < maxPolls && !this.stopped && Date.now() < deadline; poll++) {
        await this.poll();
        await sleep(this.everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Reads the states now (also used right after a change, to not wait for the next poll). */
  async poll(): Promise<void> {
    let states: Map<string, string>;
    try {
      states = await this.haproxy.states();
      this.failures = 0;
    } catch {
      this.failures++;
      return;
    }
    const at = Date.now();
    for (const [key, status] of states) {
      if (this.current.get(key) === status) continue;
      const changes = this.history.get(key) ?? [];
      changes.push({ at, status });
      this.history.set(key, changes);
    }
    this.current = states;
  }

  /** Every status change seen, by "backend/server". */
  dump(): Record<string, readonly StatusChange[]> {
    return Object.fromEntries(this.history);
  }

  status(backend: BackendName, server: string): string | undefined {
    return this.current.get(`${backend}/${server}`);
  }

  changes(backend: BackendName, server: string): readonly StatusChange[] {
    return this.history.get(`${backend}/${server}`) ?? [];
  }

  /** When `server` was first seen down in [from, to), or undefined. */
  firstDown(backend: BackendName, server: string, from: number, to = Infinity): number | undefined {
    return this.changes(backend, server).find((c) => c.at >= from && c.at < to && isDown(c.status))?.at;
  }

  /**
   * Every server in `backend` that health checks took out of service in [from, to): a change to
   * down from up or draining. A new target's initial down (it has not passed `rise` checks yet)
   * does not count.
   */
  markedDown(backend: BackendName, from: number, to: number): string[] {
    const found: string[] = [];
    for (const [key, changes] of this.history) {
      const [name, server] = key.split('/');
      const taken = changes.some(
        (c, i) => c.at >= from && c.at < to && isDown(c.status) && inService(changes[i - 1]?.status),
      );
      if (name === backend && server && taken) found.push(server);
    }
    return found;
  }
}
