/**
 * One HTTP/1.1 keep-alive connection on a raw socket: one request in flight at a time (no
 * pipelining), the next one sent as soon as the previous answer is complete.
 */
import { connect, type Socket } from 'node:net';

const END_OF_HEAD = Buffer.from('\r\n\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');

export interface KeepAliveEvents {
  /** An answer arrived complete: its status and the request's start (performance.now()). */
  onResponse(status: number, sentAt: number): void;
  /** The connection broke or the answer was unreadable; it is reopened. */
  onError(error: Error): void;
}

export class KeepAliveConnection {
  private socket: Socket | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private sentAt = 0;
  private running = true;

  constructor(
    private readonly port: number,
    private readonly request: Buffer,
    private readonly events: KeepAliveEvents,
  ) {}

  start(): void {
    const socket = connect({ host: '127.0.0.1', port: this.port, noDelay: true });
    this.socket = socket;
    this.pending = Buffer.alloc(0);
    socket.on('data', (data: Buffer) => this.onData(data));
    socket.once('error', (error) => this.broken(socket, error));
    socket.once('close', () => this.broken(socket, new Error('connection closed')));
    socket.once('connect', () => this.send());
  }

  stop(): void {
    this.running = false;
    this.socket?.destroy();
  }

  private send(): void {
    this.sentAt = performance.now();
    this.socket!.write(this.request);
  }

  private broken(socket: Socket, error: Error): void {
    if (socket !== this.socket || !this.running) return;
    this.socket = undefined;
    socket.destroy();
    this.events.onError(error);
    this.start();
  }

  private onData(data: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, data]) : data;
    const headEnd = this.pending.indexOf(END_OF_HEAD);
    if (headEnd < 0) return;
    const head = this.pending.subarray(0, headEnd).toString('latin1');
    const bodyStart = headEnd + END_OF_HEAD.length;
    let end: number;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length) {
      end = bodyStart + Number(length[1]);
      if (this.pending.length < end) return;
    } else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = this.pending.indexOf(LAST_CHUNK, bodyStart);
      if (last < 0) return;
      end = last + LAST_CHUNK.length;
    } else {
      this.broken(this.socket!, new Error(`answer without a length: ${head.split('\r\n')[0]}`));
      return;
    }
    const status = Number(head.slice(9, 12));
    this.pending = this.pending.subarray(end);
    this.events.onResponse(status, this.sentAt);
    if (/\r\nconnection:\s*close/i.test(head)) {
      this.broken(this.socket!, new Error('the proxy closed the connection'));
      return;
    }
    if (this.running) this.send();
  }
}
