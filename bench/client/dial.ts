/**
 * The client side of a tunnel on raw sockets: to the origin directly, or `CONNECT` through a
 * proxy and wait for its 200. No HTTP library in the way, so the client costs little CPU.
 */
import { connect, type Socket } from 'node:net';
import type { Target } from '../target.js';

const END_OF_HEAD = Buffer.from('\r\n\r\n');
const MAX_HEAD_BYTES = 8_192;
/** A proxy that never answers fails the dial instead of hanging the run. */
export const DIAL_TIMEOUT_MS = 10_000;

export interface Dialled {
  readonly socket: Socket;
  /** Bytes that arrived after the proxy's 200 (already from the origin). */
  readonly head: Buffer;
  /** performance.now() when connect() was called and when the tunnel (or TCP) was up. */
  readonly startedAt: number;
  readonly establishedAt: number;
}

/** Opens a byte stream to `originPort` on 127.0.0.1, through `target` if it is a proxy. */
export function dial(target: Target, originPort: number): Promise<Dialled> {
  const startedAt = performance.now();
  const port = target.proxyPort ?? originPort;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    const timer = setTimeout(
      () => fail(new Error(`${target.name}: no tunnel within ${DIAL_TIMEOUT_MS} ms`)),
      DIAL_TIMEOUT_MS,
    );
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const established = (head: Buffer): void => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve({ socket, head, startedAt, establishedAt: performance.now() });
    };
    socket.once('error', fail);
    if (target.proxyPort === null) {
      socket.once('connect', () => established(Buffer.alloc(0)));
      return;
    }
    socket.write(`CONNECT 127.0.0.1:${originPort} HTTP/1.1\r\nHost: 127.0.0.1:${originPort}\r\n\r\n`);
    let received: Buffer = Buffer.alloc(0);
    const onData = (data: Buffer): void => {
      received = received.length ? Buffer.concat([received, data]) : data;
      const end = received.indexOf(END_OF_HEAD);
      if (end < 0) {
        if (received.length > MAX_HEAD_BYTES) fail(new Error(`${target.name}: CONNECT answer too long`));
        return;
      }
      socket.off('data', onData);
      socket.off('end', onEnd);
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200 /.test(statusLine)) {
        fail(new Error(`${target.name}: CONNECT answered "${statusLine}"`));
        return;
      }
      socket.pause();
      established(received.subarray(end + END_OF_HEAD.length));
    };
    const onEnd = (): void => fail(new Error(`${target.name}: closed before answering CONNECT`));
    socket.on('data', onData);
    socket.once('end', onEnd);
  });
}
