import type { Socket } from 'node:net';
import type { ProxyError } from './errors.js';

/** Requests a client may pipeline ahead of the one being served; beyond, the connection is closed. */
export const MAX_PIPELINED = 32;

const QUEUE = Symbol('egress-proxy.inOrder');
const PAUSED = Symbol('egress-proxy.pausedForOrder');
const ACTIVE = Symbol('egress-proxy.activeExchange');

/** An exchange whose request may turn out unreadable halfway (its body fails to parse). */
export interface Interruptible {
  /** Ends the exchange with `error` if its request was still arriving; false if it had arrived whole. */
  interrupt(error: ProxyError): boolean;
}

/** undefined: nothing running; null: one exchange running, none waiting; else the waiting ones. */
type Ordered = Socket & {
  [QUEUE]?: (() => void)[] | null;
  [PAUSED]?: boolean;
  [ACTIVE]?: Interruptible;
};

/**
 * One exchange at a time per client connection. Node's HTTP server emits every request it parses
 * at once (and a pipelined CONNECT while earlier responses are still being written), so a client
 * could make the proxy open one upstream connection per pipelined request, or mix a tunnel's bytes
 * into an earlier response. Each exchange claims the connection; the next waits for `release`.
 *
 * Returns true if the connection was free and is now claimed; false means `enqueue` the work.
 */
export function claim(socket: Socket): boolean {
  const ordered = socket as Ordered;
  if (ordered[QUEUE] !== undefined) return false;
  ordered[QUEUE] = null;
  return true;
}

/**
 * Runs `work` once the exchanges before it are done. A waiting request stops the connection from
 * being read (`pauseReading`), so at most one read's worth of requests waits; a client that
 * pipelines more than MAX_PIPELINED anyway is cut off (false).
 */
export function enqueue(socket: Socket, work: () => void, pauseReading: boolean): boolean {
  const ordered = socket as Ordered;
  let queue = ordered[QUEUE];
  if (!queue) {
    queue = ordered[QUEUE] = [];
    socket.once('close', dropWaiting);
  }
  if (queue.length >= MAX_PIPELINED) {
    socket.destroy();
    return false;
  }
  queue.push(work);
  if (pauseReading && !ordered[PAUSED]) {
    ordered[PAUSED] = true;
    socket.pause();
  }
  return true;
}

/** Registers the running exchange, for `interruptActive`. */
export function setActive(socket: Socket, exchange: Interruptible): void {
  (socket as Ordered)[ACTIVE] = exchange;
}

/**
 * A parse error on this connection: if the running exchange's request was still arriving, the
 * error is in that request, and that exchange ends with it (true). Otherwise it belongs to a
 * request pipelined behind, to be answered in its turn (false).
 */
export function interruptActive(socket: Socket, error: ProxyError): boolean {
  return (socket as Ordered)[ACTIVE]?.interrupt(error) ?? false;
}

/** The exchange that claimed the connection is done: start the next one, or read on. */
export function release(socket: Socket): void {
  const ordered = socket as Ordered;
  ordered[ACTIVE] = undefined;
  if (socket.destroyed) {
    ordered[QUEUE] = undefined;
    return;
  }
  const next = ordered[QUEUE]?.shift();
  if (next) {
    next();
    return;
  }
  ordered[QUEUE] = undefined;
  if (ordered[PAUSED]) {
    ordered[PAUSED] = false;
    socket.resume();
  }
}

function dropWaiting(this: Ordered): void {
  this[QUEUE] = undefined;
}
