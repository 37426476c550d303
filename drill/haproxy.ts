/**
 * HAProxy as the NLB stand-in: its config (two TCP-passthrough "load balancers" over the same
 * instances: one checked like the target group, one with a naive TCP check) and a client for its
 * runtime API, used to read server states and to register/deregister instances.
 */
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { must, waitFor } from './exec.js';
import { LB_IP, NS } from './network.js';
import type { DrillFleet } from './options.js';
import { spawnInNamespace, type NsProcess } from './processes.js';

export const PROXY_PORT = 3128;
export const HEALTH_PORT = 8081;
/** The load balancer checked through the sidecar, like the NLB target group. */
export const SIDECAR_LB = { backend: 'be_sidecar', port: 3128 } as const;
/** The contrast: same instances, plain TCP check on the proxy port. */
export const NAIVE_LB = { backend: 'be_naive', port: 3129 } as const;
export type BackendName = typeof SIDECAR_LB.backend | typeof NAIVE_LB.backend;
export const BACKENDS: readonly BackendName[] = [SIDECAR_LB.backend, NAIVE_LB.backend];

export function renderConfig(socket: string, fleet: DrillFleet): string {
  return `global
  stats socket ${socket} mode 600 level admin
  maxconn 4000

defaults
  mode tcp
  # The NLB does not retry a refused connection on another target; neither do we.
  retries 0
  timeout connect 1s
  # The listener's TCP idle timeout (tcp.idle_timeout.seconds), scaled.
  timeout client ${fleet.tcpIdleTimeoutMs}ms
  timeout server ${fleet.tcpIdleTimeoutMs}ms
  # HealthCheckTimeoutSeconds, scaled.
  timeout check ${fleet.check.timeoutMs}ms

frontend fe_sidecar
  bind ${LB_IP}:${SIDECAR_LB.port}
  default_backend ${SIDECAR_LB.backend}

frontend fe_naive
  bind ${LB_IP}:${NAIVE_LB.port}
  default_backend ${NAIVE_LB.backend}

# Like the target group: TCP passthrough to the proxy, HTTP check GET /healthcheck on the sidecar.
backend ${SIDECAR_LB.backend}
  balance roundrobin
  option httpchk
  http-check send meth GET uri ${fleet.check.path}
  http-check expect status 200

# What a naive setup would do: a TCP connect to the proxy port.
backend ${NAIVE_LB.backend}
  balance roundrobin
`;
}

/** Per-server keywords (dynamic servers do not inherit default-server in HAProxy 2.6). */
function serverArgs(backend: BackendName, fleet: DrillFleet): string {
  const { intervalMs, unhealthyThreshold, healthyThreshold } = fleet.check;
  const common = `check inter ${intervalMs} fall ${unhealthyThreshold} rise ${healthyThreshold}`;
  // NLB default target_health_state.unhealthy.connection_termination = true: flows of an
  // unhealthy target are reset.
  const port = backend === SIDECAR_LB.backend ? ` port ${HEALTH_PORT}` : '';
  return `${common}${port} on-marked-down shutdown-sessions`;
}

export class HAProxy {
  private constructor(
    readonly process: NsProcess,
    private readonly socket: string,
    private readonly fleet: DrillFleet,
  ) {}

  static async start(runDir: string, fleet: DrillFleet): Promise<HAProxy> {
    const socket = join(runDir, 'haproxy.sock');
    const file = join(runDir, 'haproxy.cfg');
    writeFileSync(file, renderConfig(socket, fleet));
    await must('haproxy', ['-c', '-q', '-f', file]);
    const proc = spawnInNamespace('haproxy', NS.lb, 'haproxy', ['-f', file, '-db']);
    const haproxy = new HAProxy(proc, socket, fleet);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (!proc.running) throw proc.failure('exited during start');
      try {
        await haproxy.command('show info');
        return haproxy;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    throw proc.failure('runtime API socket did not answer within 5 s');
  }

  /** One runtime API command (non-interactive mode: HAProxy answers and closes). */
  command(line: string, timeoutMs = 2_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      const socket = connect(this.socket);
      const timer = setTimeout(() => socket.destroy(new Error(`haproxy: "${line}" timed out`)), timeoutMs);
      socket.on('connect', () => socket.end(`${line}\n`));
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks).toString('utf8'));
      });
    });
  }

  /** Server status by backend and server name: "UP", "UP 1/2", "DOWN", "DOWN 1/2", "MAINT"... */
  async states(): Promise<Map<string, string>> {
    return this.stat('status');
  }

  /** Sessions (flows) a server holds now in the sidecar-checked backend. */
  async sessions(server: string): Promise<number> {
    return Number((await this.stat('scur')).get(`${SIDECAR_LB.backend}/${server}`) ?? 0);
  }

  /** One column of `show stat` for every server, by "backend/server". */
  private async stat(column: string): Promise<Map<string, string>> {
    const text = await this.command('show stat -1 4 -1');
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    const header = (lines.shift() ?? '').replace(/^# /, '').split(',');
    const [px, sv, col] = ['pxname', 'svname', column].map((name) => header.indexOf(name));
    if (px === undefined || sv === undefined || col === undefined || Math.min(px, sv, col) < 0) {
      throw new Error(`haproxy: unexpected "show stat" answer: ${text.slice(0, 200)}`);
    }
    const values = new Map<string, string>();
    for (const line of lines) {
      const fields = line.split(',');
      values.set(`${fields[px]}/${fields[sv]}`, fields[col] ?? '');
    }
    return values;
  }

  /**
   * Registers a target in both backends. Like a new NLB target ("initial"), it gets no traffic
   * until it passed `rise` checks: HAProxy would start a runtime-added server as UP, so it is
   * forced down in the same command batch that enables it.
   */
  async register(server: string, address: string): Promise<void> {
    for (const backend of BACKENDS) {
      const id = `${backend}/${server}`;
      await this.expect(
        `add server ${id} ${address}:${PROXY_PORT} ${serverArgs(backend, this.fleet)}`,
        /New server registered/,
      );
      await this.expect(`enable health ${id}`, /^\s*$/);
      await this.expect(`enable server ${id}; set server ${id} health down`, /^\s*$/);
    }
  }

  /**
   * DeregisterTargets: the target group stops sending the target new flows and lets the open ones
   * run (HAProxy's "drain" state) for the deregistration delay. The naive load balancer is only a
   * contrast, not the stack's: it drops the target at once.
   */
  async deregister(server: string): Promise<void> {
    await this.command(`set server ${SIDECAR_LB.backend}/${server} state drain`);
    await this.takeOut(NAIVE_LB.backend, server);
  }

  /** The end of the deregistration delay with connection termination on: the flows left are reset. */
  async cutSessions(server: string): Promise<void> {
    await this.command(`shutdown sessions server ${SIDECAR_LB.backend}/${server}`);
  }

  /** Takes a target out of rotation at once: maintenance, and its flows reset (cleanup, failed launches). */
  async disable(server: string): Promise<void> {
    for (const backend of BACKENDS) await this.takeOut(backend, server);
  }

  private async takeOut(backend: BackendName, server: string): Promise<void> {
    const id = `${backend}/${server}`;
    await this.command(`set server ${id} state maint`);
    await this.command(`shutdown sessions server ${id}`);
  }

  /**
   * Deletes a target once its instance is gone. HAProxy refuses while connections are still
   * attached (a hung target's), so this retries for a bounded time.
   */
  async remove(server: string, timeoutMs = 5_000): Promise<boolean> {
    let removed = true;
    for (const backend of BACKENDS) {
      const id = `${backend}/${server}`;
      const deleted = await waitFor(async () => {
        // HAProxy deletes only a server in maintenance with no session left.
        await this.command(`set server ${id} state maint`);
        await this.command(`shutdown sessions server ${id}`);
        const answer = await this.command(`del server ${id}`);
        return /Server deleted|No such server|Unknown server|No such backend/i.test(answer)
          ? true
          : undefined;
      }, timeoutMs);
      removed &&= deleted === true;
    }
    return removed;
  }

  private async expect(line: string, pattern: RegExp): Promise<void> {
    const answer = await this.command(line);
    if (!pattern.test(answer)) throw new Error(`haproxy: "${line}" answered: ${answer.trim()}`);
  }
}
