/** Clients of long-lived tunnels, for the drain's tests: how a tunnel ends, and one that keeps moving bytes. */
import type { Socket } from 'node:net';
import { dial, tunnel } from './client.js';

export interface Ending {
  readonly at: number;
  /** 'end': a FIN from the proxy (answered with one, as a client does); else the error code (a reset). */
  readonly how: string;
}

export function ending(socket: Socket): Promise<Ending> {
  return new Promise((resolve) => {
    socket.once('end', () => {
      socket.end();
      resolve({ at: Date.now(), how: 'end' });
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      resolve({ at: Date.now(), how: error.code ?? error.message }),
    );
  });
}

export interface BusyTunnel {
  readonly socket: Socket;
  /** Bytes written, and bytes the echo origin sent back. */
  readonly counts: { sent: number; echoed: number };
  /** When each echo arrived. */
  readonly echoesAt: number[];
  readonly ended: Promise<Ending>;
  /** Stops writing (the tunnel stays open). */
  stop(): void;
}

/** A CONNECT tunnel to an echo origin that writes a byte every `tickMs`. */
export async function busyTunnel(port: number, authority: string, tickMs = 100): Promise<BusyTunnel> {
  const socket = await tunnel(port, authority);
  const counts = { sent: 0, echoed: 0 };
  const echoesAt: number[] = [];
  socket.on('data', (data: Buffer) => {
    counts.echoed += data.length;
    echoesAt.push(Date.now());
  });
  socket.resume();
  const ended = ending(socket);
  const ticker = setInterval(() => {
    if (!socket.writable) return;
    socket.write('x');
    counts.sent++;
  }, tickMs);
  void ended.then(() => clearInterval(ticker));
  return { socket, counts, echoesAt, ended, stop: () => clearInterval(ticker) };
}

/** Whether a new connection to `port` is accepted now, or the error code (ECONNREFUSED). */
export function connectOutcome(port: number): Promise<string> {
  return dial(port).then(
    (socket) => (socket.destroy(), 'accepted'),
    (error: NodeJS.ErrnoException) => error.code ?? error.message,
  );
}
