import type { OnReadOpts, Socket } from 'node:net';
import type { IpBytes } from '../policy/ip.js';
import type { Destination, Policy } from '../policy/policy.js';
import { ConnectFailed, connectFirst } from './connect-first.js';
import { ProxyError } from './errors.js';
import { resolutionTimedOut, type Resolver } from './resolver.js';

export interface UpstreamOptions {
  readonly resolver: Resolver;
  readonly policy: () => Policy;
  /** Resolving and connecting, together. */
  readonly connectMs: number;
  /** Called with the seconds each successful connect took. */
  readonly onConnected?: (seconds: number) => void;
}

/**
 * Opens the TCP connection to a destination the allowlist already admitted: resolves the name,
 * checks *every* address against the SSRF ranges, then connects to those same addresses (no
 * second lookup, so no DNS-rebinding window), Happy Eyeballs style, all within `connectMs`.
 * A failure tells the client only that the destination could not be reached: whether it refused
 * or never answered, and at which address, is `detail` for the log (no port-scan oracle).
 * `onread`: for a tunnel (see UpstreamReader); the socket then comes back paused.
 */
export async function openUpstream(
  destination: Destination,
  client: string,
  options: UpstreamOptions,
  onread?: OnReadOpts,
): Promise<Socket> {
  const started = performance.now();
  const addresses = await checkedAddresses(destination, client, started + options.connectMs, options);
  const remaining = started + options.connectMs - performance.now();
  try {
    const socket = await connectFirst(addresses, destination.port, Math.max(remaining, 0), onread);
    options.onConnected?.((performance.now() - started) / 1e3);
    return socket;
  } catch (error) {
    if (!(error instanceof ConnectFailed)) throw error;
    throw new ProxyError(
      'upstream_unreachable',
      `could not connect to ${destination.host}:${destination.port}`,
      { detail: error.message },
    );
  }
}

async function checkedAddresses(
  destination: Destination,
  client: string,
  deadline: number,
  options: UpstreamOptions,
): Promise<IpBytes[]> {
  const policy = options.policy();
  const addresses = destination.ip
    ? [destination.ip]
    : destination.host === 'localhost' && policy.isProbeTarget(destination)
      ? [Uint8Array.of(127, 0, 0, 1)]
      : await resolve(destination.host, client, deadline, options.resolver);
  for (const address of addresses) {
    const denial = policy.checkAddress(destination, address);
    if (denial) throw ProxyError.fromDenial(denial);
  }
  return addresses;
}

/** A cached answer at once; otherwise the resolver's, or dns_timeout at the deadline. */
function resolve(
  host: string,
  client: string,
  deadline: number,
  resolver: Resolver,
): Promise<IpBytes[]> | IpBytes[] {
  const cached = resolver.cached(host);
  if (cached instanceof ProxyError) throw cached;
  if (cached) return cached;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(resolutionTimedOut(host)), Math.max(deadline - performance.now(), 0));
  });
  return Promise.race([resolver.resolve(host, client, deadline), expired]).finally(() => clearTimeout(timer));
}
