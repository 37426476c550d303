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

export interface AbsoluteTarget {
  readonly destination: Destination;
  /** Path and query, exactly as sent (`/` when there was none). */
  readonly path: string;
  /** `host[:port]` for the Host header, normalized, default port left out. */
  readonly authority: string;
}

/**
 * Reads an absolute-form request target (`http://host[:port][/path][?query]`); only plain
 * `http://` is forwarded. The URL parser reads the authority only: the path and query go upstream
 * exactly as the client sent them (`%2e%2e`, `..`, `//`, `\\` and query encodings mean different
 * things to different origins, and signed URLs break if they change).
 */
export function parseAbsoluteUrl(target: string): AbsoluteTarget {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target);
  if (!scheme) throw new DestinationSyntaxError('bad_destination', `"${target}" is not an absolute URL`);
  if (scheme[1]!.toLowerCase() !== 'http') {
    throw new DestinationSyntaxError(
      'unsupported_scheme',
      `${scheme[1]!.toLowerCase()}:// requests are not forwarded; use CONNECT for HTTPS`,
    );
  }
  const rest = target.slice(scheme[0].length);
  const end = rest.search(/[/?#]/);
  const authorityText = end === -1 ? rest : rest.slice(0, end);
  const path = end === -1 ? '/' : rest[end] === '?' ? `/${rest.slice(end)}` : rest.slice(end);
  if (path.includes('#')) {
    throw new DestinationSyntaxError('bad_destination', 'a request target has no #fragment');
  }
  if (authorityText === '' || /[\s@\\]/.test(authorityText)) {
    throw new DestinationSyntaxError('bad_destination', `"${authorityText}" is not a host[:port]`);
  }
  let url: URL;
  try {
    url = new URL(`http://${authorityText}/`);
  } catch {
    throw new DestinationSyntaxError('bad_destination', `"${authorityText}" is not a valid host[:port]`);
  }
  return { destination: destinationOf(url, url.port || '80'), path, authority: url.host };
}

/**
 * Normalizes a host the way browsers do (WHATWG URL host parser: case, punycode, and every odd
 * IPv4 spelling such as `0x7f.1` or `2130706433` becomes a dotted quad), so the policy and the
 * resolver always see the same canonical name.
 */
export function parseDestination(hostText: string, portText: string): Destination {
  let url: URL;
  try {
    url = new URL(`http://${hostText}/`);
  } catch {
    throw new DestinationSyntaxError('bad_destination', `"${hostText}" is not a valid host`);
  }
  return destinationOf(url, portText);
}

/** The destination a parsed URL's host names, on `portText`. */
function destinationOf(url: URL, portText: string): Destination {
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new DestinationSyntaxError('bad_destination', `port "${portText}" is not 1-65535`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (host === '') throw new DestinationSyntaxError('bad_destination', 'empty host');
  return { host, port: Number(portText), ip: parseIp(host) };
}
