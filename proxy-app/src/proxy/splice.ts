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

/**
 * Relays bytes both ways until both directions have ended: client to upstream through 'data'
 * events, upstream to client through `reader` (the upstream socket was opened with its
 * `onread`). Each side's FIN is passed on as a FIN (half-close), so a client that finishes
 * sending still gets the whole answer. An error or `idleMs` without traffic on either socket
 * tears both down.
 *
 * Hand-written rather than `pipe()`: an idle tunnel is mostly listeners, and pipe's dozen
 * closures and `once` wrappers per direction were a third of a tunnel's heap.
 */
export function splice(
  client: Socket,
  upstream: Socket,
  reader: UpstreamReader,
  head: Buffer,
  idleMs: number,
  onClosed: (bytesUp: number, bytesDown: number) => void,
): Relay {
  const destroyBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    client.end();
    upstream.end();
    setTimeout(destroyBoth, CLOSE_GRACE_MS).unref();
  };
  // Node re-arms a socket's timeout on every read and write, so it measures idleness for free.
  // After the process was stalled (a GC pause, CPU starvation) the expired timer runs before the
  // bytes that arrived meanwhile are read: decide once they have been (setImmediate runs after the
  // poll phase), and only if none came.
  let onIdle = destroyBoth;
  const moved = (): number => client.bytesRead + upstream.bytesRead;
  const onTimeout = (): void => {
    const before = moved();
    setImmediate(() => {
      if (moved() === before) onIdle();
    });
  };
  let open = 2;
  for (const [socket, peer] of [
    [client, upstream],
    [upstream, client],
  ] as const) {
    socket.setTimeout(idleMs);
    socket.on('timeout', onTimeout);
    socket.on('error', destroyBoth);
    peer.on('drain', () => socket.resume());
    socket.on('end', () => peer.end());
    socket.on('close', (hadError) => {
      if (--open === 0) onClosed(upstream.bytesWritten, upstream.bytesRead);
      // A clean close means both directions ended; let the peer flush what it still holds.
      if (hadError) destroyBoth();
      else if (!peer.destroyed && !peer.writableEnded) peer.end();
    });
  }
  client.on('data', (chunk: Buffer) => {
    if (!upstream.write(chunk)) client.pause();
  });
  reader.relayTo(client);
  if (head.length > 0) upstream.write(head);
  upstream.resume();
  // A client socket may arrive paused (it waited behind earlier pipelined requests).
  client.resume();
  return {
    closeWhenIdle(drainIdleMs: number): void {
      if (onIdle === close) return;
      onIdle = close;
      if (drainIdleMs < idleMs) for (const socket of [client, upstream]) socket.setTimeout(drainIdleMs);
    },
    close,
    destroy: destroyBoth,
  };
}
