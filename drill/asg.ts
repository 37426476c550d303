/**
 * The Auto Scaling group stand-in, with ELB health checks: it watches the load balancer's view of
 * each instance (the sidecar-checked backend, like the target group), and replaces an instance the
 * balancer holds down: launch first, wait until the new one is healthy, then deregister and
 * terminate the old one (the stack's maintenance policy: min 100 %, max 200 %). One at a time.
 */
import { sleep, waitFor } from './exec.js';
import { SIDECAR_LB, type HAProxy, NAIVE_LB } from './haproxy.js';
import { Instance } from './instance.js';
import { isDown, isUp, type Monitor } from './monitor.js';
import type { DrillOptions } from './options.js';

export interface Replacement {
  readonly victim: string;
  /** When the load balancer first held it down (as seen by the group). */
  readonly unhealthyAt: number;
  /** When the group acted (after its pickup delay). */
  readonly actedAt: number;
  /** What the victim's sidecar answered when the group acted. */
  lastHealthcheck?: string;
  replacement?: string;
  /** The replacement's processes listen ("booted") and it is registered in the target group. */
  registeredAt?: number;
  /** The replacement passed the healthy threshold: back to full capacity. */
  inServiceAt?: number;
  terminatedAt?: number;
  error?: string;
}

interface Member {
  readonly instance: Instance;
  /** Healthy in the target group at least once ("InService"; the group ignores it before). */
  inServiceAt?: number;
  unhealthySince?: number;
}

export class AutoScalingGroup {
  readonly replacements: Replacement[] = [];
  private readonly members = new Map<string, Member>();
  private nextIndex = 1;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private busy = false;
  private launches = 0;

  constructor(
    private readonly haproxy: HAProxy,
    private readonly monitor: Monitor,
    private readonly runDir: string,
    private readonly options: DrillOptions,
  ) {}

  /** Launches the desired capacity and waits until every instance is healthy. */
  async fill(): Promise<void> {
    const missing = this.options.instances - this.members.size;
    await Promise.all(Array.from({ length: missing }, () => this.launchHealthy()));
  }

  instances(): Instance[] {
    return [...this.members.values()].map((m) => m.instance);
  }

  /** Every instance alive, healthy in both backends, nothing in progress. */
  steady(): boolean {
    if (this.busy || this.members.size !== this.options.instances) return false;
    return this.instances().every(
      (i) =>
        isUp(this.monitor.status(SIDECAR_LB.backend, i.server)) &&
        isUp(this.monitor.status(NAIVE_LB.backend, i.server)),
    );
  }

  start(): void {
    const everyMs = 100;
    const maxRounds = Math.ceil(this.options.maxDurationMs / everyMs);
    this.loop = (async () => {
      for (let round = 0; round < maxRounds && !this.stopped; round++) {
        await this.tick().catch((error: unknown) => this.options.log(`asg: ${String(error)}`));
        await sleep(everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Terminates everything (cleanup); errors are collected, not thrown. */
  async terminateAll(): Promise<void> {
    await Promise.all(
      [...this.members.values()].map(async ({ instance }) => {
        await this.haproxy.drain(instance.server).catch(() => undefined);
        await instance.destroy().catch(() => undefined);
      }),
    );
    this.members.clear();
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    for (const member of this.members.values()) {
      const status = this.monitor.status(SIDECAR_LB.backend, member.instance.server);
      if (member.inServiceAt === undefined) {
        if (isUp(status)) member.inServiceAt = now;
        continue;
      }
      if (!isDown(status)) {
        member.unhealthySince = undefined;
        continue;
      }
      const since = (member.unhealthySince ??=
        this.monitor.firstDown(SIDECAR_LB.backend, member.instance.server, member.inServiceAt) ?? now);
      if (!this.busy && now - since >= this.options.asgPickupMs) {
        this.busy = true;
        try {
          await this.replace(member, since);
        } finally {
          this.busy = false;
        }
        return;
      }
    }
  }

  private async replace(old: Member, unhealthyAt: number): Promise<void> {
    const record: Replacement = { victim: old.instance.server, unhealthyAt, actedAt: Date.now() };
    this.replacements.push(record);
    record.lastHealthcheck = await old.instance.healthcheck();
    this.options.log(
      `asg: ${record.victim} unhealthy (/healthcheck: ${record.lastHealthcheck}); launching a replacement`,
    );
    try {
      const fresh = await this.launchHealthy(record);
      record.replacement = fresh.instance.server;
      record.inServiceAt = fresh.inServiceAt;
    } catch (error) {
      record.error = (error as Error).message;
      this.options.log(`asg: replacement for ${record.victim} failed: ${record.error}`);
    }
    // Launch before terminate; the old one is terminated even if the launch failed (it is
    // unhealthy either way), and the next round launches again to restore capacity.
    await this.haproxy.drain(old.instance.server);
    await old.instance.destroy();
    this.members.delete(old.instance.server);
    if (!(await this.haproxy.remove(old.instance.server))) {
      this.options.log(`asg: ${record.victim} stays in HAProxy (maintenance): it still had connections`);
    }
    record.terminatedAt = Date.now();
    const t = (at: number | undefined): string => (at === undefined ? '-' : `+${at - record.actedAt} ms`);
    this.options.log(
      `asg: ${record.victim} terminated ${t(record.terminatedAt)}; ${record.replacement ?? 'no replacement'} ` +
        `registered ${t(record.registeredAt)}, healthy ${t(record.inServiceAt)}`,
    );
  }

  /** Launches one instance, registers it, waits for the healthy threshold (bounded, 2 tries). */
  private async launchHealthy(record?: Replacement): Promise<Member> {
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (++this.launches > 40) throw new Error('asg: launch budget exhausted');
      const instance = await Instance.launch(this.nextIndex++, this.runDir, this.options);
      const member: Member = { instance };
      this.members.set(instance.server, member);
      try {
        await this.haproxy.register(instance.server, instance.ip);
        if (record) record.registeredAt = Date.now();
        const healthyAt = await waitFor(
          () => (isUp(this.monitor.status(SIDECAR_LB.backend, instance.server)) ? Date.now() : undefined),
          this.options.replaceTimeoutMs,
          50,
        );
        if (healthyAt === undefined)
          throw new Error(`${instance.server} not healthy in the target group in time`);
        member.inServiceAt = healthyAt;
        return member;
      } catch (error) {
        lastError = error as Error;
        this.members.delete(instance.server);
        await this.haproxy.drain(instance.server).catch(() => undefined);
        await instance.destroy();
        await this.haproxy.remove(instance.server).catch(() => false);
      }
    }
    throw lastError ?? new Error('asg: launch failed');
  }
}
