import { parseIp } from './ip.js';
import type { Destination } from './policy.js';

/** Why a request's target could not be read. */
export class DestinationSyntaxError extends Error {
  constructor(
    readonly reason: 'bad_destination' | 'connect_missing_port' | 'unsupported_scheme',
    message: string,
  ) {
    super(message);
    this.name = 'DestinationSyntaxError';
  }
}

/** Reads a CONNECT target (`host:port`, `[v6]:port`); the port is required. */
export function parseAuthority(authority: string): Destination {
  if (/[\s@/?#\\]/.test(authority) || authority === '') {
    throw new DestinationSyntaxError('bad_destination', `"${authority}" is not a host:port`);
  }
  const bracketed = authority.startsWith('[');
  const colon = bracketed ? authority.indexOf(']:') + 1 : authority.lastIndexOf(':');
  const hostPart = colon > 0 ? authority.slice(0, colon) : authority;
  if (colon <= 0) {
    throw new DestinationSyntaxError('connect_missing_port', `CONNECT target "${authority}" has no port`);
  }
  if (!bracketed && hostPart.includes(':')) {
    throw new DestinationSyntaxError('bad_destination', `IPv6 address in "${authority}" needs [brackets]`);
  }
  return parseDestination(hostPart, authority.slice(colon + 1));
}

/** Reads an absolute-form request target; only plain `http://` is forwarded. */
export function parseAbsoluteUrl(target: string): {
  destination: Destination;
  path: string;
  authority: string;
} {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new DestinationSyntaxError('bad_destination', `"${target}" is not an absolute URL`);
  }
  if (url.protocol !== 'http:') {
    throw new DestinationSyntaxError(
      'unsupported_scheme',
      `${url.protocol}// requests are not forwarded; use CONNECT for HTTPS`,
    );
  }
  return {
    destination: parseDestination(url.hostname, url.port || '80'),
    path: url.pathname + url.search,
    authority: url.host,
  };
}

/**
 * Normalizes a host the way browsers do (WHATWG URL host parser: case, punycode, and every odd
 * IPv4 spelling such as `0x7f.1` or `2130706433` becomes a dotted quad), so the policy and the
 * resolver always see the same canonical name.
 */
export function parseDestination(hostText: string, portText: string): Destination {
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new DestinationSyntaxError('bad_destination', `port "${portText}" is not 1-65535`);
  }
  let hostname: string;
  try {
    hostname = new URL(`http://${hostText}/`).hostname;
  } catch {
    throw new DestinationSyntaxError('bad_destination', `"${hostText}" is not a valid host`);
  }
  const host = hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (host === '') throw new DestinationSyntaxError('bad_destination', 'empty host');
  return { host, port: Number(portText), ip: parseIp(host) };
}
