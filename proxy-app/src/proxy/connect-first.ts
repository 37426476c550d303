import { connect, type OnReadOpts, type Socket } from 'node:net';
import { formatIp, type IpBytes } from '../policy/ip.js';

/** RFC 8305's Connection Attempt Delay: the next address gets its try after this at the latest. */
const ATTEMPT_DELAY_MS = 250;

/** No address answered in time; `attempts` says what happened to each, for the log. */
export class ConnectFailed extends Error {
  constructor(readonly attempts: readonly string[]) {
    super(attempts.join('; '));
    this.name = 'ConnectFailed';
  }
}

/**
 * Connects to whichever of `addresses` answers first, the way RFC 8305 ("Happy Eyeballs")
 * describes: families alternate (starting with the first address's), each attempt starts
 * ATTEMPT_DELAY_MS after the previous one or as soon as it fails, earlier attempts keep running,
 * and the first connection wins while the others are closed. So a dead first address costs a
 * head start, not the whole budget. Nothing outlives `timeoutMs`. With `onread`, the sockets read
 * through it and come back paused: nothing is read until the caller resumes the winner.
 */
export function connectFirst(
  addresses: readonly IpBytes[],
  port: number,
  timeoutMs: number,
  onread?: OnReadOpts,
): Promise<Socket> {
  const order = alternateFamilies(addresses).map(formatIp);
  return new Promise((resolve, reject) => {
    const attempts: Socket[] = [];
    const outcomes = order.map((address) => `${address}: not tried`);
    let failed = 0;
    let settled = false;
    let stagger: NodeJS.Timeout | undefined;

    const settle = (winner: Socket | null): void => {
      settled = true;
      clearTimeout(stagger);
      clearTimeout(deadline);
      for (const attempt of attempts) if (attempt !== winner) attempt.destroy();
      if (winner) {
        winner.removeAllListeners('error');
        winner.removeAllListeners('connect');
        resolve(winner);
      } else {
        reject(new ConnectFailed(outcomes));
      }
    };
    const start = (): void => {
      clearTimeout(stagger);
      const index = attempts.length;
      if (settled || index === order.length) return;
      const socket = connect({ host: order[index], port, allowHalfOpen: true, noDelay: true, onread });
      if (onread) socket.pause();
      attempts.push(socket);
      outcomes[index] = `${order[index]}: timed out`;
      socket.once('connect', () => settle(socket));
      socket.once('error', (error: NodeJS.ErrnoException) => {
        if (settled) return;
        outcomes[index] = `${order[index]}: ${error.code ?? error.message}`;
        socket.destroy();
        if (++failed === order.length) settle(null);
        else start();
      });
      if (attempts.length < order.length) stagger = setTimeout(start, ATTEMPT_DELAY_MS);
    };
    const deadline = setTimeout(() => settle(null), timeoutMs);
    start();
  });
}

/** RFC 8305 section 4: interleave the families, the first address's family first. */
function alternateFamilies(addresses: readonly IpBytes[]): IpBytes[] {
  const first = addresses[0]?.length;
  const preferred = addresses.filter((address) => address.length === first);
  const other = addresses.filter((address) => address.length !== first);
  const order: IpBytes[] = [];
  for (let i = 0; i < Math.max(preferred.length, other.length); i++) {
    if (i < preferred.length) order.push(preferred[i]!);
    if (i < other.length) order.push(other[i]!);
  }
  return order;
}
