import type { OnReadOpts, Socket } from 'node:net';

/** Shared by every quiet upstream leg of this worker: what they read is copied out at once. */
const SHARED_BYTES = 16 * 1024;
/** A leg whose reads fill the shared buffer gets one of its own, this large. */
const OWN_BYTES = 64 * 1024;
const shared = Buffer.allocUnsafeSlow(SHARED_BYTES);

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
 */
export class UpstreamReader {
  private own: Buffer | null = null;
  /** A pending write still points into `own`. */
  private ownHeld = false;
  private next: Buffer = shared;
  private client: Socket | null = null;

  /** For `net.connect`; nothing is read until the socket is resumed after `relayTo`. */
  readonly onread: OnReadOpts = {
    buffer: () => this.next,
    callback: (length, buffer) => this.relay(length, buffer as Buffer),
  };

  /** Where what the upstream sends goes from now on. */
  relayTo(client: Socket): void {
    this.client = client;
  }

  /** False pauses the upstream until the client drains (see splice). */
  private relay(length: number, buffer: Buffer): boolean {
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
      this.next = this.own;
    } else {
      this.own = null;
      this.ownHeld = false;
      this.next = shared;
    }
    return flowing;
  }
}
