/** Virtual time and recording stand-ins for the lifecycle's boundaries (AWS, IMDS, the proxy). */
import pino from 'pino';
import type { Clock } from '../../../../proxy-app/src/sidecar/lifecycle/clock.js';
import type {
  Hook,
  HookResult,
  LifecycleActions,
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

export class RecordingActions implements LifecycleActions {
  readonly calls: Call[] = [];
  constructor(private readonly clock: Clock) {}
  async complete(hook: Hook, result: HookResult): Promise<void> {
    this.calls.push({ at: this.clock.now(), call: `complete ${hook} ${result}` });
  }
  async heartbeat(): Promise<void> {
    this.calls.push({ at: this.clock.now(), call: 'heartbeat' });
  }
  async deregister(): Promise<void> {
    this.calls.push({ at: this.clock.now(), call: 'deregister' });
  }
}

/** Reports the open-tunnel counts it is given, one per read, the last one forever. */
export class ScriptedProxy implements ProxyControl {
  stoppedAt: number | undefined;
  constructor(
    private readonly clock: Clock,
    private readonly tunnels: number[],
  ) {}
  async openTunnels(): Promise<number> {
    return this.tunnels.length > 1 ? this.tunnels.shift()! : this.tunnels[0]!;
  }
  async stop(): Promise<void> {
    this.stoppedAt = this.clock.now();
  }
}

export const silentLogger = pino({ level: 'silent' });
