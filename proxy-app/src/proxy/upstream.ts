import { connect, type Socket } from 'node:net';
import { formatIp, type IpBytes } from '../policy/ip.js';
import type { Destination, Policy } from '../policy/policy.js';
import { ProxyError } from './errors.js';
import type { Resolver } from './resolver.js';

export interface UpstreamOptions {
  readonly resolver: Resolver;
  readonly policy: () => Policy;
  readonly connectMs: number;
  /** Called with the seconds each successful connect took. */
  readonly onConnected?: (seconds: number) => void;
}

/**
 * Opens the TCP connection to a destination the allowlist already admitted: resolves the name,
 * checks *every* address against the SSRF ranges, then connects to those same addresses (no
 * second lookup, so no DNS-rebinding window), trying them in resolver order within `connectMs`.
 */
export async function openUpstream(destination: Destination, options: UpstreamOptions): Promise<Socket> {
  const addresses = await checkedAddresses(destination, options);
  const deadline = Date.now() + options.connectMs;
  let lastError: ProxyError | undefined;
  for (const address of addresses) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      return await connectOnce(formatIp(address), destination, remaining, options.onConnected);
    } catch (error) {
      lastError = error as ProxyError;
    }
  }
  throw lastError ?? new ProxyError('connect_timeout', `connecting to ${describe(destination)} timed out`);
}

async function checkedAddresses(destination: Destination, options: UpstreamOptions): Promise<IpBytes[]> {
  const policy = options.policy();
  const addresses = destination.ip
    ? [destination.ip]
    : destination.host === 'localhost' && policy.isProbeTarget(destination)
      ? [Uint8Array.of(127, 0, 0, 1)]
      : await options.resolver.resolve(destination.host);
  for (const address of addresses) {
    const denial = policy.checkAddress(destination, address);
    if (denial) throw ProxyError.fromDenial(denial);
  }
  return addresses;
}

function connectOnce(
  address: string,
  destination: Destination,
  timeoutMs: number,
  onConnected: ((seconds: number) => void) | undefined,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const socket = connect({ host: address, port: destination.port, allowHalfOpen: true, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ProxyError('connect_timeout', `connecting to ${describe(destination)} (${address}) timed out`),
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      onConnected?.(Number(process.hrtime.bigint() - started) / 1e9);
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      const reason = error.code === 'ECONNREFUSED' ? 'upstream_refused' : 'upstream_unreachable';
      reject(
        new ProxyError(
          reason,
          `connecting to ${describe(destination)} (${address}) failed: ${error.code ?? error.message}`,
          { cause: error },
        ),
      );
    });
  });
}

function describe(destination: Destination): string {
  return `${destination.host}:${destination.port}`;
}
