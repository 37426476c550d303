import type { Socket } from 'node:net';

/** How long a refused client may keep its side open after the answer before the proxy lets go. */
export const LINGER_MS = 2_000;
/** Refused connections one worker lets linger at once; past that, a refusal closes at once. */
const MAX_LINGERING = 1_024;

const TIMER = Symbol('egress-proxy.lingerTimer');
/** The linger deadline, or null for a socket closed at once. */
type Lingering = Socket & { [TIMER]?: NodeJS.Timeout | null };

let lingering = 0;

/**
 * Sends the proxy's final answer on a raw socket and lets go of the connection: FIN after the
 * answer, then whatever the client still sends is read and dropped (so the answer is not lost to
 * a reset) until the client closes its side or LINGER_MS passes, whichever is first. The only
 * way the proxy closes a connection it answered itself, so none outlives its refusal.
 * Returns false if the socket was already closing this way (a repeated parse error).
 */
export function closeLingering(socket: Socket, answer: string): boolean {
  const marked = socket as Lingering;
  if (marked[TIMER] !== undefined) return false;
  socket.on('error', destroySocket);
  if (!socket.writable || lingering >= MAX_LINGERING) {
    marked[TIMER] = null;
    if (socket.writable) socket.end(answer, () => socket.destroy());
    else socket.destroy();
    return true;
  }
  lingering++;
  marked[TIMER] = setTimeout(destroyLater, LINGER_MS, socket).unref();
  socket.once('close', stopLingering);
  socket.once('end', destroySocket);
  socket.end(answer);
  socket.resume();
  return true;
}

/** True once `closeLingering` took the socket. */
export function isClosing(socket: Socket): boolean {
  return (socket as Lingering)[TIMER] !== undefined;
}

function destroySocket(this: Socket): void {
  this.destroy();
}

function destroyLater(socket: Socket): void {
  socket.destroy();
}

function stopLingering(this: Lingering): void {
  lingering--;
  clearTimeout(this[TIMER]!);
}
