import type { Socket } from 'node:net';
import type { UpstreamReader } from './upstream-reader.js';

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
): void {
  const destroyBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  let open = 2;
  for (const [socket, peer] of [
    [client, upstream],
    [upstream, client],
  ] as const) {
    socket.setTimeout(idleMs);
    socket.on('timeout', destroyBoth);
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
}
