import type { Socket } from 'node:net';
import { readConnectHead } from './connect-head.js';

export interface FirstReadOptions {
  /** Time for the first bytes to arrive. */
  readonly headersMs: number;
  readonly maxHeaderBytes: number;
  /** The connection opened with a plain CONNECT head: `head` is what followed it in the read. */
  readonly connect: (socket: Socket, target: string, head: Buffer) => void;
  /** Anything else: Node's HTTP server gets the connection, and the bytes read so far. */
  readonly serveHttp: (socket: Socket) => void;
  /** Nothing arrived within `headersMs`. */
  readonly timedOut: (socket: Socket) => void;
}

const READER = Symbol('egress-proxy.firstRead');
type Reading = Socket & { [READER]: FirstRead };

/**
 * Reads a new connection's first bytes before Node's HTTP server sees it. Most connections to a
 * forward proxy open with a CONNECT, and a tunnel needs none of the server's per-connection
 * parser, request and response objects: a plain CONNECT head (see readConnectHead) goes straight
 * to `connect`. Every other first read is put back and the connection served by Node's parser
 * exactly as if it had come straight from the listener (its own header deadline then starts).
 *
 * The hand-over waits for the check phase (setImmediate). Node's server makes its parser read
 * the socket directly (`parser.consume`), and libuv may deliver further reads in the same poll
 * phase; handing over from inside the 'data' event would let them reach the parser before the
 * bytes put back. Deferred, those reads land behind them in the socket's buffer, and the whole
 * buffer is parsed, in order, before the parser reads anything itself.
 */
export class FirstRead {
  constructor(readonly options: FirstReadOptions) {}

  start(socket: Socket): void {
    (socket as Reading)[READER] = this;
    socket.setTimeout(this.options.headersMs);
    socket.on('timeout', onTimeout);
    socket.on('error', onError);
    // The listener keeps half-open connections (Node's server ends them itself): one whose
    // client ends before sending anything is closed here.
    socket.on('end', onEndFirst);
    socket.once('data', onFirstData);
  }
}

function onFirstData(this: Reading, chunk: Buffer): void {
  this.pause();
  this.setTimeout(0);
  this.off('timeout', onTimeout);
  this.off('end', onEndFirst);
  const { connect, serveHttp, maxHeaderBytes } = this[READER].options;
  const head = readConnectHead(chunk, maxHeaderBytes);
  if (head) {
    this.off('error', onError);
    connect(this, head.target, chunk.subarray(head.end));
    return;
  }
  this.unshift(chunk);
  setImmediate(handOver, this, serveHttp);
}

function handOver(socket: Socket, serveHttp: (socket: Socket) => void): void {
  if (socket.destroyed) return;
  socket.off('error', onError);
  serveHttp(socket);
  socket.resume();
}

function onTimeout(this: Reading): void {
  this.off('data', onFirstData);
  this.off('end', onEndFirst);
  this.off('timeout', onTimeout);
  this.setTimeout(0);
  this[READER].options.timedOut(this);
}

function onEndFirst(this: Socket): void {
  this.end();
}

function onError(this: Socket): void {
  this.destroy();
}
