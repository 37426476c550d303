/**
 * The Auto Scaling group stand-in, with ELB health checks and the stack's lifecycle hooks, in the
 * documented order (aws-facts.md §2.2):
 *
 * - launch: Pending:Wait until the instance's sidecar completes the launching hook (or the hook
 *   times out to its default result), then registration, then the healthy threshold;
 * - termination (replacement, scale-in, refresh): deregistration, the deregistration delay (ended
 *   early once the target holds no flow, §9; at its end, flows left are reset when connection
 *   termination is on, §1.4), only then Terminating:Wait until the sidecar completes the
 *   terminating hook (or its heartbeat timeout gives the default result), then terminate.
 *
 * Every parameter comes from the synthesized template (options.fleet). It replaces an instance the
 * load balancer holds down (launch first, min 100 % / max 200 %), one at a time.
 */
import { AwsStandIn } from './aws.js';
import { sleep, waitFor } from './exec.js';
import { SIDECAR_LB, type HAProxy, NAIVE_LB } from './haproxy.js';
import { Instance } from './instance.js';
import { isDown, isUp, type Monitor } from './monitor.js';
import type { DrillOptions, MetadataReading, ScaledHook } from './options.js';
import type { StandInInstance } from './servers/protocol.js';

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
  /** The victim's deregistration (the naive load balancer dropped it then too). */
  deregisteredAt?: number;
  terminatedAt?: number;
  error?: string;
}

/** One termination, in the documented order, with the time of each step. */
export interface Termination {
  readonly server: string;
  readonly reading: MetadataReading;
  readonly decisionAt: number;
  deregisteredAt?: number;
  /** The deregistration delay ended: early (no flow left) or at its end. */
  delayEndedAt?: number;
  delayEndedEarly?: boolean;
  /** Flows reset at the end of the delay (connection termination). */
  sessionsCut?: number;
  /** Terminating:Wait began. */
  waitAt?: number;
  /** `sidecar`: it completed the hook; `timeout`: the heartbeat timeout's default result. */
  hookEnded?: 'sidecar' | 'timeout';
  terminatedAt?: number;
}

interface Member {
  readonly instance: Instance;
  /** Healthy in the target group at least once ("InService"; the group ignores it before). */
  inServiceAt?: number;
  unhealthySince?: number;
  /** Set while it is not (yet, or any more) registered: the group does not check it. */
  leaving?: boolean;
}

const TICK_MS = 100;

export class AutoScalingGroup {
  readonly replacements: Replacement[] = [];
  readonly terminations: Termination[] = [];
  private readonly members = new Map<string, Member>();
  private nextIndex = 1;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private busy = false;
  private launches = 0;

  constructor(
    private readonly haproxy: HAProxy,
    private readonly monitor: Monitor,
    private readonly aws: AwsStandIn,
    private readonly runDir: string,
    private readonly options: DrillOptions,
    /** The metadata reading of termination for failure replacements. */
    private readonly replacementReading: MetadataReading,
  ) {}

  /** Launches the desired capacity and waits until every instance is healthy. */
  async fill(): Promise<void> {
    const missing = this.options.instances - this.members.size;
    await Promise.all(Array.from({ length: missing }, () => this.launchHealthy()));
  }

  instances(): Instance[] {
    return [...this.members.values()].map((m) => m.instance);
  }

  byIp(ip: string): Instance | undefined {
    return this.instances().find((i) => i.ip === ip);
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
    const maxRounds = Math.ceil(this.options.maxDurationMs / TICK_MS);
    this.loop = (async () => {
      for (let round = 0; round < maxRounds && !this.stopped; round++) {
        await this.tick().catch((error: unknown) => this.options.log(`asg: ${String(error)}`));
        await sleep(TICK_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  /** Terminates everything at once (cleanup); errors are collected, not thrown. */
  async terminateAll(): Promise<void> {
    await Promise.all(
      [...this.members.values()].map(async ({ instance }) => {
        await this.haproxy.disable(instance.server).catch(() => undefined);
        await instance.destroy().catch(() => undefined);
      }),
    );
    this.members.clear();
  }

  /**
   * Scale-in by one: `victim` leaves in the documented order; then a new instance restores the
   * capacity the next scenarios expect.
   */
  async scaleIn(victim: Instance, reading: MetadataReading): Promise<Termination> {
    return this.exclusively(async () => {
      const member = this.members.get(victim.server);
      if (!member) throw new Error(`asg: ${victim.server} is not in the group`);
      const termination = await this.terminate(member, reading);
      await this.launchHealthy();
      return termination;
    });
  }

  /**
   * Instance refresh with the group's maintenance policy (min 100 %, max from the template):
   * launches up to (max - 100) % of the desired capacity, waits for them to pass the health
   * checks and the instance warmup, then terminates as many old instances, in the documented
   * order, all at once; batch after batch.
   */
  async refresh(reading: MetadataReading): Promise<Termination[]> {
    return this.exclusively(async () => {
      const batch = Math.max(
        1,
        Math.floor((this.options.instances * (this.options.fleet.maxHealthyPercentage - 100)) / 100),
      );
      const old = [...this.members.values()];
      const terminations: Termination[] = [];
      for (let i = 0; i < old.length; i += batch) {
        const step = old.slice(i, i + batch);
        // One after another, not at once as Auto Scaling does: here every instance shares two
        // cores, and three starting together starved the running ones' health checks (two old
        // instances marked down mid-refresh). Each still launches before any old one leaves.
        for (let launched = 0; launched < step.length; launched++) await this.launchHealthy();
        await sleep(this.options.fleet.instanceWarmupMs);
        terminations.push(...(await Promise.all(step.map((member) => this.terminate(member, reading)))));
      }
      return terminations;
    });
  }

  private async exclusively<T>(work: () => Promise<T>): Promise<T> {
    const free = await waitFor(() => (this.busy ? undefined : true), 120_000);
    if (!free) throw new Error('asg: busy for too long');
    this.busy = true;
    try {
      return await work();
    } finally {
      this.busy = false;
    }
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    for (const member of this.members.values()) {
      if (member.leaving) continue;
      const status = this.monitor.status(SIDECAR_LB.backend, member.instance.server);
      this.reportTargetHealth(member, status);
      if (member.inServiceAt === undefined) {
        if (isUp(status)) member.inServiceAt = now;
        continue;
      }
      // ELB health counts only once the grace period after InService has passed.
      if (!isDown(status) || now - member.inServiceAt < this.options.fleet.gracePeriodMs) {
        member.unhealthySince = undefined;
        continue;
      }
      const since = (member.unhealthySince ??=
        this.monitor.firstDown(SIDECAR_LB.backend, member.instance.server, member.inServiceAt) ?? now);
      if (!this.busy && now - since >= this.options.fleet.asgPickupMs) {
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

  /** What DescribeTargetHealth says while the instance is registered. */
  private reportTargetHealth(member: Member, status: string | undefined): void {
    const state =
      member.inServiceAt === undefined
        ? { state: 'initial', reason: 'Elb.InitialHealthChecking' }
        : isDown(status)
          ? { state: 'unhealthy', reason: 'Target.FailedHealthChecks' }
          : { state: 'healthy' };
    this.setInstance(member.instance, { targetHealth: state });
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
    const termination = await this.terminate(old, this.replacementReading);
    record.deregisteredAt = termination.deregisteredAt;
    record.terminatedAt = termination.terminatedAt;
    const t = (at: number | undefined): string => (at === undefined ? '-' : `+${at - record.actedAt} ms`);
    this.options.log(
      `asg: ${record.victim} terminated ${t(record.terminatedAt)}; ${record.replacement ?? 'no replacement'} ` +
        `registered ${t(record.registeredAt)}, healthy ${t(record.inServiceAt)}`,
    );
  }

  /**
   * Terminates one instance in the documented order: deregistration, the deregistration delay
   * (ended early once the target holds no flow), Terminating:Wait until the hook ends, terminate.
   */
  private async terminate(member: Member, reading: MetadataReading): Promise<Termination> {
    const { fleet, log } = this.options;
    const { instance } = member;
    member.leaving = true;
    const t: Termination = { server: instance.server, reading, decisionAt: Date.now() };
    this.terminations.push(t);
    if (reading === 'at-decision') this.setInstance(instance, { targetLifecycleState: 'Terminated' });

    await this.haproxy.deregister(instance.server);
    this.setInstance(instance, {
      targetHealth: { state: 'draining', reason: 'Target.DeregistrationInProgress' },
    });
    t.deregisteredAt = Date.now();
    const empty = await waitFor(
      async () => ((await this.haproxy.sessions(instance.server)) === 0 ? true : undefined),
      fleet.deregistrationDelayMs,
      TICK_MS,
    );
    t.delayEndedAt = Date.now();
    t.delayEndedEarly = empty === true;
    if (!t.delayEndedEarly && fleet.connectionTermination) {
      t.sessionsCut = await this.haproxy.sessions(instance.server);
      await this.haproxy.cutSessions(instance.server);
    }
    this.setInstance(instance, { targetHealth: { state: 'unused', reason: 'Target.NotRegistered' } });

    const events = this.aws.events.length;
    t.waitAt = Date.now();
    this.setInstance(instance, {
      targetLifecycleState: 'Terminated',
      activeHook: fleet.hooks.terminating.name,
    });
    t.hookEnded = (await this.awaitHook(instance, fleet.hooks.terminating, events)).by;
    this.setInstance(instance, { activeHook: undefined });
    await instance.destroy();
    this.members.delete(instance.server);
    this.aws.forget(instance.instanceId);
    if (!(await this.haproxy.remove(instance.server))) {
      log(`asg: ${instance.server} stays in HAProxy (maintenance): it still had connections`);
    }
    t.terminatedAt = Date.now();
    log(
      `asg: ${instance.server} left (metadata ${reading}): delay ${t.delayEndedEarly ? 'ended early' : 'ran out'} ` +
        `after ${t.delayEndedAt - t.deregisteredAt} ms, hook ended by ${t.hookEnded}, terminated ` +
        `${t.terminatedAt - t.decisionAt} ms after the decision`,
    );
    return t;
  }

  /**
   * Waits for the instance to complete `hook`: heartbeats restart the timeout; past it the
   * default result applies.
   */
  private async awaitHook(
    instance: Instance,
    hook: ScaledHook,
    since: number,
  ): Promise<{ result: string; by: 'sidecar' | 'timeout' }> {
    let deadline = Date.now() + hook.timeoutMs;
    let seen = since;
    while (Date.now() < deadline) {
      const calls = this.aws.events.slice(seen);
      seen += calls.length;
      for (const call of calls) {
        if (call.instanceId !== instance.instanceId || call.hook !== hook.name || !call.accepted) continue;
        if (call.action === 'RecordLifecycleActionHeartbeat') deadline = Date.now() + hook.timeoutMs;
        if (call.action === 'CompleteLifecycleAction') return { result: call.result ?? '', by: 'sidecar' };
      }
      await sleep(50);
    }
    return { result: hook.defaultResult, by: 'timeout' };
  }

  private setInstance(instance: Instance, change: Partial<StandInInstance>): void {
    this.aws.update(instance.instanceId, change);
  }

  /**
   * Launches one instance: Pending:Wait until its sidecar completes the launching hook, then
   * registration and the healthy threshold (bounded, 2 tries).
   */
  private async launchHealthy(record?: Replacement): Promise<Member> {
    const { fleet } = this.options;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      if (++this.launches > 60) throw new Error('asg: launch budget exhausted');
      const instance = await Instance.launch(this.nextIndex++, this.runDir, this.options);
      const member: Member = { instance, leaving: true };
      this.members.set(instance.server, member);
      try {
        const events = this.aws.events.length;
        this.aws.update(instance.instanceId, {
          instanceId: instance.instanceId,
          ip: instance.ip,
          groupName: AwsStandIn.GROUP_NAME,
          targetLifecycleState: 'InService',
          activeHook: fleet.hooks.launching.name,
          targetHealth: { state: 'unused', reason: 'Target.NotRegistered' },
        });
        const launch = await this.awaitHook(instance, fleet.hooks.launching, events);
        this.setInstance(instance, { activeHook: undefined });
        if (launch.result !== 'CONTINUE') {
          throw new Error(`${instance.server}: launch ended ${launch.result} (${launch.by})`);
        }
        await this.haproxy.register(instance.server, instance.ip);
        member.leaving = false;
        if (record) record.registeredAt = Date.now();
        const healthyAt = await waitFor(
          () => (isUp(this.monitor.status(SIDECAR_LB.backend, instance.server)) ? Date.now() : undefined),
          fleet.check.intervalMs * (fleet.check.healthyThreshold + 2) + 10_000,
          50,
        );
        if (healthyAt === undefined)
          throw new Error(`${instance.server} not healthy in the target group in time`);
        member.inServiceAt = healthyAt;
        return member;
      } catch (error) {
        lastError = error as Error;
        this.members.delete(instance.server);
        this.aws.forget(instance.instanceId);
        await this.haproxy.disable(instance.server).catch(() => undefined);
        await instance.destroy();
        await this.haproxy.remove(instance.server).catch(() => false);
      }
    }
    throw lastError ?? new Error('asg: launch failed');
  }
}
