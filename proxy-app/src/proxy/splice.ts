import type { Socket } from 'node:net';

/**
 * Relays bytes both ways until both directions have ended. Each side's FIN is passed on as a FIN
 * (half-close), so a client that finishes sending still gets the whole answer. An error or
 * `idleMs` without traffic on either socket tears both down.
 */
export function splice(
  client: Socket,
  upstream: Socket,
  head: Buffer,
  idleMs: number,
  onClosed: (bytesUp: number, bytesDown: number) => void,
): void {
  const destroyBoth = (): void => {
    client.destroy();
    upstream.destroy();
  };
  let open = 2;
  const closed = (): void => {
    if (--open === 0) onClosed(upstream.bytesWritten, upstream.bytesRead);
  };
  for (const [socket, peer] of [
    [client, upstream],
    [upstream, client],
  ] as const) {
    socket.setTimeout(idleMs, destroyBoth);
    socket.on('error', destroyBoth);
    socket.once('close', (hadError) => {
      closed();
      // A clean close means both directions ended; let the peer flush what it still holds.
      if (hadError) destroyBoth();
      else peer.end();
    });
  }
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
}
