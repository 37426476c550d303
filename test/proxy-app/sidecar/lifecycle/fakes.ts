/** Virtual time and scripted stand-ins for the lifecycle's boundaries (AWS, IMDS, the proxy). */
import pino from 'pino';
import type { Clock } from '../../../../proxy-app/src/sidecar/lifecycle/clock.js';
import type {
  Completion,
  Hook,
  HookResult,
  LifecycleActions,
  TargetState,
} from '../../../../proxy-app/src/sidecar/lifecycle/actions.js';
import type { ProxyControl } from '../../../../proxy-app/src/sidecar/lifecycle/proxy-control.js';

/** Sleeping advances time at once, so hours of lifecycle run in milliseconds. */
export class VirtualClock implements Clock {
  private time = 0;
  now(): number {
    return this.time;
  }
  async sleep(ms: number): Promise<void> {
    this.time += ms;
    await Promise.resolve();
  }
}

export type Call = { at: number; call: string };

/** The AWS side as a function of (virtual) time: the target's state, and when the hook is active. */
export interface AwsScript {
  /** The target's state at `now`; an Error is thrown (e.g. AccessDenied). */
  readonly target?: (now: number) => TargetState | Error;
  /** Whether the terminating hook is active (Terminating:Wait) at `now`. */
  readonly hookActive?: (now: number) => boolean;
}

/** Records every call; answers as the script says ("No active Lifecycle Action" before the hook). */
export class ScriptedActions implements LifecycleActions {
  readonly calls: Call[] = [];
  constructor(
    private readonly clock: Clock,
    private readonly script: AwsScript = {},
  ) {}
  async complete(hook: Hook, result: HookResult): Promise<Completion> {
    const active = hook === 'launch' || (this.script.hookActive?.(this.clock.now()) ?? true);
    this.calls.push({
      at: this.clock.now(),
      call: `complete ${hook} ${result}${active ? '' : ': no active action'}`,
    });
    return active ? 'completed' : 'no-active-action';
  }
  async heartbeat(): Promise<boolean> {
    const active = this.script.hookActive?.(this.clock.now()) ?? true;
    this.calls.push({ at: this.clock.now(), call: `heartbeat${active ? '' : ': no active action'}` });
    return active;
  }
  async deregister(): Promise<void> {
    this.calls.push({ at: this.clock.now(), call: 'deregister' });
  }
  async targetState(): Promise<TargetState> {
    const state = this.script.target?.(this.clock.now()) ?? 'registered';
    if (state instanceof Error) throw state;
    return state;
  }
  /** The calls, without the repeats of one call in a row. */
  sequence(): string[] {
    return this.calls.map((c) => c.call).filter((call, i, all) => call !== all[i - 1]);
  }
}

/** Reports the open-connection counts it is given, one per read, the last one forever. */
export class ScriptedProxy implements ProxyControl {
  drainedAt: number | undefined;
  constructor(
    private readonly clock: Clock,
    private readonly connections: number[] = [0],
  ) {}
  async drain(): Promise<boolean> {
    this.drainedAt ??= this.clock.now();
    return true;
  }
  async openConnections(): Promise<number> {
    return this.connections.length > 1 ? this.connections.shift()! : this.connections[0]!;
  }
}

export const silentLogger = pino({ level: 'silent' });
