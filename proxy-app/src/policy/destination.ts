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
  const start = target.startsWith('http://') ? 'http://'.length : schemeLength(target);
  const end = target.slice(start).search(/[/?#]/);
  const authorityText = end === -1 ? target.slice(start) : target.slice(start, start + end);
  const rest = target.slice(start + authorityText.length);
  const path = rest === '' ? '/' : rest[0] === '?' ? `/${rest}` : rest;
  if (path.includes('#')) {
    throw new DestinationSyntaxError('bad_destination', 'a request target has no #fragment');
  }
  const { destination, authority } = readAuthority(authorityText);
  return { destination, path, authority };
}

/** The length of `scheme://`, which must be `http://` in any case. */
function schemeLength(target: string): number {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(target);
  if (!scheme) throw new DestinationSyntaxError('bad_destination', `"${target}" is not an absolute URL`);
  if (scheme[1]!.toLowerCase() !== 'http') {
    throw new DestinationSyntaxError(
      'unsupported_scheme',
      `${scheme[1]!.toLowerCase()}:// requests are not forwarded; use CONNECT for HTTPS`,
    );
  }
  return scheme[0].length;
}

type Authority = Pick<AbsoluteTarget, 'destination' | 'authority'>;

/** Authorities read lately, by their text as sent: most requests name a host the worker has seen. */
const recentAuthorities = new Map<string, Authority>();
/** Beyond this many, the cache starts afresh: a bound, not an eviction policy. */
const RECENT_AUTHORITIES = 1_024;

function readAuthority(text: string): Authority {
  const known = recentAuthorities.get(text);
  if (known !== undefined) return known;
  if (text === '' || /[\s@\\]/.test(text)) {
    throw new DestinationSyntaxError('bad_destination', `"${text}" is not a host[:port]`);
  }
  let url: URL;
  try {
    url = new URL(`http://${text}/`);
  } catch {
    throw new DestinationSyntaxError('bad_destination', `"${text}" is not a valid host[:port]`);
  }
  const authority = { destination: destinationOf(url, url.port || '80'), authority: url.host };
  if (recentAuthorities.size >= RECENT_AUTHORITIES) recentAuthorities.clear();
  recentAuthorities.set(text, authority);
  return authority;
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
