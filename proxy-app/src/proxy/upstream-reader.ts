import type { OnReadOpts, Socket } from 'node:net';

/** Shared by every quiet upstream leg of this worker: what they read is copied out at once. */
const SHARED_BYTES = 16 * 1024;
/** A leg whose reads fill the shared buffer gets one of its own, this large. */
const OWN_BYTES = 64 * 1024;
const shared = Buffer.allocUnsafeSlow(SHARED_BYTES);

const READER = Symbol('egress-proxy.upstreamReader');
type Leg = Socket & { [READER]?: UpstreamReader };

/**
 * The buffer the next read of the socket just served lands in. Node calls `onread.callback` (with
 * the socket as `this`) and then, at once, `onread.buffer` (with no `this`): the callback leaves
 * its leg's next buffer here for `nextBuffer` to hand over. Any other call (a new socket's first
 * buffer) gets the shared one.
 */
let handOver: Buffer = shared;

function nextBuffer(): Buffer {
  const buffer = handOver;
  handOver = shared;
  return buffer;
}

function onRead(this: Leg, length: number, buffer: Uint8Array): boolean {
  return this[READER]?.relay(length, buffer as Buffer) ?? false;
}

/** One object for every upstream socket: no closures per tunnel (see `UpstreamReader`). */
const ONREAD: OnReadOpts = { buffer: nextBuffer, callback: onRead };

/**
 * The upstream leg of a tunnel reads through this (net's `onread`) instead of 'data' events: into
 * a buffer that is reused rather than a new one per read, and straight into the client socket
 * rather than through a Readable stream. With 'data' events, each read allocates, and the garbage
 * keeps the major GC busy; reading into reused memory halves the CPU per byte relayed.
 *
 * Two buffers, so that an idle tunnel holds none: a read lands in the worker-wide `shared` buffer
 * and is copied out before the next read can overwrite it; a read that fills it moves the leg to
 * a buffer of its own, written to the client without a copy. A write the socket could not finish
 * at once still points into that buffer, so the next read gets a fresh one; a read that leaves
 * it partly empty (the stream went quiet) hands it back to the garbage collector.
 *
 * `onread` is the same object for every tunnel and finds this reader through the socket, so an
 * idle tunnel's reader is this object's four fields and nothing else.
 */
export class UpstreamReader {
  /** For `net.connect`; nothing is read until the socket is resumed after `relayTo`. */
  readonly onread = ONREAD;
  private own: Buffer | null = null;
  /** A pending write still points into `own`. */
  private ownHeld = false;
  private client: Socket | null = null;

  /** From now on, what `upstream` (opened with `onread`) reads goes to `client`. */
  relayTo(upstream: Socket, client: Socket): void {
    this.client = client;
    (upstream as Leg)[READER] = this;
  }

  /** One read of `length` bytes into `buffer`; false pauses the upstream until the client drains (see splice). */
  relay(length: number, buffer: Buffer): boolean {
    const client = this.client;
    if (client === null || client.destroyed) return false;
    let flowing: boolean;
    if (buffer === this.own) {
      flowing = client.write(buffer.subarray(0, length));
      if (client.writableLength > 0) this.ownHeld = true;
    } else {
      const copy = Buffer.allocUnsafe(length);
      buffer.copy(copy, 0, 0, length);
      flowing = client.write(copy);
    }
    if (length === buffer.length) {
      if (this.own === null || this.ownHeld) {
        this.own = Buffer.allocUnsafeSlow(OWN_BYTES);
        this.ownHeld = false;
      }
      handOver = this.own;
    } else {
      this.own = null;
      this.ownHeld = false;
    }
    return flowing;
  }
}
