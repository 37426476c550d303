/** The drill's side of the tunnel client (drill/servers/tunnel-client.ts), in the client namespace. */
import { waitFor } from './exec.js';
import { LB_IP, NS, ORIGIN_NAME } from './network.js';
import type { NsProcess } from './processes.js';
import { spawnScript } from './scripts.js';
import { ECHO_PORT, TUNNELS_READY, type TunnelCommand, type TunnelEvent } from './servers/protocol.js';

export type TunnelEnd = Extract<TunnelEvent, { event: 'ended' }>;

export interface OpenTunnel {
  readonly id: string;
  readonly openedAt: number;
  readonly instanceIp: string;
}

export class TunnelClient {
  private readonly events: TunnelEvent[] = [];
  private next = 1;

  private constructor(private readonly proc: NsProcess) {
    proc.onLine((line) => {
      if (line.startsWith('{')) this.events.push(JSON.parse(line) as TunnelEvent);
    });
  }

  static async start(): Promise<TunnelClient> {
    const proc = spawnScript('tunnel client', NS.client, 'tunnel-client', [], { stdin: true });
    await proc.waitForLine(TUNNELS_READY, 10_000);
    return new TunnelClient(proc);
  }

  /**
   * Opens tunnels through the load balancer on `port` until one lands on `instanceIp` (any
   * instance when undefined), closing the others; bounded by `attempts`.
   */
  async openOn(
    port: number,
    instanceIp: string | undefined,
    tickMs: number,
    attempts = 12,
  ): Promise<OpenTunnel> {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const id = `t${this.next++}`;
      this.send({ op: 'open', id, host: LB_IP, port, authority: `${ORIGIN_NAME}:${ECHO_PORT}`, tickMs });
      const event = await waitFor(() => this.events.find((e) => e.id === id), 10_000, 20);
      if (event?.event === 'open') {
        if (instanceIp === undefined || event.instanceIp === instanceIp) {
          return { id, openedAt: event.at, instanceIp: event.instanceIp };
        }
        this.close(id);
      }
    }
    throw new Error(`no tunnel landed on ${instanceIp ?? 'any instance'} in ${attempts} attempts`);
  }

  close(id: string): void {
    this.send({ op: 'close', id });
  }

  /** How the tunnel ended; undefined while it is open (after waiting up to `timeoutMs`). */
  ended(id: string, timeoutMs = 0): Promise<TunnelEnd | undefined> {
    return waitFor(
      () => this.events.find((e): e is TunnelEnd => e.id === id && e.event === 'ended'),
      timeoutMs,
      20,
    );
  }

  async stop(): Promise<void> {
    this.proc.write('');
    await this.proc.kill();
  }

  private send(command: TunnelCommand): void {
    this.proc.write(`${JSON.stringify(command)}\n`);
  }
}
