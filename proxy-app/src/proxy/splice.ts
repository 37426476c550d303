import type { Socket } from 'node:net';
import type { UpstreamReader } from './upstream-reader.js';

/** After a graceful close, sockets still open this long later are destroyed. */
const CLOSE_GRACE_MS = 2_000;

/** What the drain may do to a relay in progress. */
export interface Relay {
  /** From now on, ends both sides gracefully once neither has moved a byte for `idleMs`. */
  closeWhenIdle(idleMs: number): void;
  /** Ends both directions now (FIN), destroying them if they have not closed shortly after. */
  close(): void;
  /** Closes both sockets at once (the process is about to exit). */
  destroy(): void;
}

const SPLICE = Symbol('egress-proxy.splice');
type Spliced = Socket & { [SPLICE]?: Splice };

/**
 * Relays bytes both ways until both directions have ended: client to upstream through 'data'
 * events, upstream to client through `reader` (the upstream socket was opened with its
 * `onread`). Each side's FIN is passed on as a FIN (half-close), so a client that finishes
 * sending still gets the whole answer. An error or `idleMs` without traffic on either socket
 * tears both down.
 *
 * One idle timer, the client's: Node re-arms it on every read from the client and every write to
 * it that completes, so it sees bytes moving in either direction; a timer on the upstream socket
 * too would only say the same thing again, for another timer and listener per tunnel.
 *
 * Hand-written rather than `pipe()`: an idle tunnel is mostly listeners, and pipe's dozen
 * closures and `once` wrappers per direction were a third of a tunnel's heap. The listeners are
 * module functions that find their tunnel through the socket, so an idle tunnel costs one
 * object here, not a closure per listener.
 */
export function splice(
  client: Socket,
  upstream: Socket,
  reader: UpstreamReader,
  head: Buffer,
  idleMs: number,
  onClosed: (bytesUp: number, bytesDown: number) => void,
): Relay {
  const relay = new Splice(client, upstream, idleMs, onClosed);
  client.setTimeout(idleMs);
  client.on('timeout', onTimeout);
  for (const socket of [client, upstream] as Spliced[]) {
    socket[SPLICE] = relay;
    socket.on('error', onError);
    socket.on('drain', onDrain);
    socket.on('end', onEnd);
    socket.on('close', onClose);
  }
  client.on('data', onClientData);
  reader.relayTo(upstream, client);
  if (head.length > 0) upstream.write(head);
  upstream.resume();
  // A client socket may arrive paused (it waited behind earlier pipelined requests).
  client.resume();
  return relay;
}

class Splice implements Relay {
  private closing = false;
  /** Set by the drain: an idle tunnel is closed gracefully rather than destroyed. */
  private closeIdle = false;
  private open = 2;

  constructor(
    private readonly client: Socket,
    private readonly upstream: Socket,
    private readonly idleMs: number,
    private readonly onClosed: (bytesUp: number, bytesDown: number) => void,
  ) {}

  peerOf(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }

  forward(chunk: Buffer): void {
    if (!this.upstream.write(chunk)) this.client.pause();
  }

  moved(): number {
    return this.client.bytesRead + this.upstream.bytesRead;
  }

  idle(): void {
    if (this.closeIdle) this.close();
    else this.destroy();
  }

  closed(socket: Socket, hadError: boolean): void {
    if (--this.open === 0) this.onClosed(this.upstream.bytesWritten, this.upstream.bytesRead);
    // A clean close means both directions ended; let the peer flush what it still holds.
    const peer = this.peerOf(socket);
    if (hadError) this.destroy();
    else if (!peer.destroyed && !peer.writableEnded) peer.end();
  }

  closeWhenIdle(drainIdleMs: number): void {
    if (this.closeIdle) return;
    this.closeIdle = true;
    if (drainIdleMs < this.idleMs) this.client.setTimeout(drainIdleMs);
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.client.end();
    this.upstream.end();
    setTimeout(destroyRelay, CLOSE_GRACE_MS, this).unref();
  }

  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
  }
}

function destroyRelay(relay: Relay): void {
  relay.destroy();
}

function onClientData(this: Spliced, chunk: Buffer): void {
  this[SPLICE]!.forward(chunk);
}

/** This socket can take more: read on from its peer, paused while it could not. */
function onDrain(this: Spliced): void {
  this[SPLICE]!.peerOf(this).resume();
}

function onEnd(this: Spliced): void {
  this[SPLICE]!.peerOf(this).end();
}

function onClose(this: Spliced, hadError: boolean): void {
  this[SPLICE]!.closed(this, hadError);
}

function onError(this: Spliced): void {
  this[SPLICE]!.destroy();
}

/**
 * The client's timeout measures the tunnel's idleness for free (see splice). After the process
 * was stalled (a GC pause, CPU starvation) the expired timer runs before the
 * bytes that arrived meanwhile are read: decide once they have been (setImmediate runs after the
 * poll phase), and only if none came.
 */
function onTimeout(this: Spliced): void {
  const relay = this[SPLICE]!;
  setImmediate(idleUnlessMoved, relay, relay.moved());
}

function idleUnlessMoved(relay: Splice, before: number): void {
  if (relay.moved() === before) relay.idle();
}
