import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ExecResult {
  readonly exitcode: number;
  readonly stdout: string;
  readonly stderr: string;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * A client of the QEMU guest agent (qemu-ga in the guest) over QEMU's virtio-serial chardev
 * socket. One request at a time, as the protocol has no request ids; guest-sync-delimited first,
 * so answers to requests sent before the agent was listening are skipped.
 */
export class GuestAgent {
  private buffer = '';
  private pending: Pending | undefined;
  private syncId: number | undefined;
  private syncWaiter: (() => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (error) => this.pending?.reject(error));
    socket.on('close', () => this.pending?.reject(new Error('guest agent socket closed')));
  }

  /** Connects and synchronizes, retrying until the agent answers or the deadline passes. */
  static async connect(path: string, deadlineMs: number): Promise<GuestAgent> {
    const until = Date.now() + deadlineMs;
    let last: unknown;
    while (Date.now() < until) {
      const socket = await new Promise<Socket | undefined>((resolve) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', (error) => {
          last = error;
          resolve(undefined);
        });
      });
      if (socket) {
        const agent = new GuestAgent(socket);
        if (await agent.sync(Math.min(5_000, until - Date.now()))) return agent;
        socket.destroy();
        last = new Error('no answer to guest-sync-delimited');
      }
      await sleep(1_000);
    }
    throw new Error(`guest agent at ${path} did not answer within ${deadlineMs} ms: ${String(last)}`);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Runs a shell command in the guest as root; resolves with its exit code and output. */
  async exec(command: string, timeoutMs = 60_000): Promise<ExecResult> {
    const { pid } = (await this.request('guest-exec', {
      path: '/bin/sh',
      arg: ['-c', command],
      'capture-output': true,
    })) as { pid: number };
    const until = Date.now() + timeoutMs;
    for (;;) {
      const status = (await this.request('guest-exec-status', { pid })) as {
        exited: boolean;
        exitcode?: number;
        signal?: number;
        'out-data'?: string;
        'err-data'?: string;
      };
      if (status.exited) {
        return {
          exitcode: status.exitcode ?? 128 + (status.signal ?? 0),
          stdout: Buffer.from(status['out-data'] ?? '', 'base64').toString('utf8'),
          stderr: Buffer.from(status['err-data'] ?? '', 'base64').toString('utf8'),
        };
      }
      if (Date.now() > until) throw new Error(`guest command did not finish in ${timeoutMs} ms: ${command}`);
      await sleep(100);
    }
  }

  /** Like exec, but rejects unless the command exits 0; resolves with its stdout. */
  async sh(command: string, timeoutMs?: number): Promise<string> {
    const result = await this.exec(command, timeoutMs);
    if (result.exitcode !== 0) {
      throw new Error(`guest: \`${command}\` exited ${result.exitcode}\n${result.stdout}${result.stderr}`);
    }
    return result.stdout;
  }

  private request(execute: string, args: Record<string, unknown>): Promise<unknown> {
    const next = this.queue.then(
      () =>
        new Promise<unknown>((resolve, reject) => {
          this.pending = { resolve, reject };
          this.socket.write(`${JSON.stringify({ execute, arguments: args })}\n`);
        }),
    );
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async sync(timeoutMs: number): Promise<boolean> {
    const id = Math.floor(Math.random() * 2 ** 31);
    this.syncId = id;
    const synced = new Promise<boolean>((resolve) => {
      this.syncWaiter = () => resolve(true);
      setTimeout(() => resolve(false), timeoutMs).unref();
    });
    this.socket.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } })}\n`);
    const ok = await synced;
    this.syncWaiter = undefined;
    return ok;
  }

  private onData(chunk: string): void {
    // guest-sync-delimited answers after a 0xFF byte, which resets the agent's parser.
    this.buffer += chunk.replaceAll('\uFFFD', '').replaceAll('\xFF', '');
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (!line) continue;
      let message: { return?: unknown; error?: { class?: string; desc?: string } };
      try {
        message = JSON.parse(line) as typeof message;
      } catch {
        continue;
      }
      if (this.syncId !== undefined) {
        if (message.return === this.syncId) {
          this.syncId = undefined;
          this.syncWaiter?.();
        }
        continue;
      }
      const pending = this.pending;
      this.pending = undefined;
      if (!pending) continue;
      if (message.error)
        pending.reject(new Error(`guest agent: ${message.error.class}: ${message.error.desc}`));
      else pending.resolve(message.return);
    }
  }
}
