import type { IncomingMessage, InformationEvent } from 'node:http';

/**
 * Headers that describe one connection, never forwarded (RFC 9110 7.6.1), plus proxy credentials.
 * `Trailer` and `Expect` are end-to-end: the proxy relays trailers and lets the origin answer
 * `100-continue` itself.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'transfer-encoding',
  'upgrade',
]);

/** Client addresses a request may carry from hops behind the proxy (X-Real-IP: nginx's convention). */
const FORWARDED_FOR = new Set(['x-forwarded-for', 'forwarded', 'x-real-ip']);

/** This proxy in `Via` (RFC 9110 7.6.3): a pseudonym, not a host name. */
const VIA_NAME = 'egress-proxy';

/** What to do with client addresses: drop them, or append the client's to X-Forwarded-For. */
export type ForwardedFor = 'strip' | 'append';

/** The names listed in Connection headers: hop-by-hop for this message only. */
function namedInConnection(connection: string | undefined): Set<string> | undefined {
  if (!connection) return undefined;
  return new Set(connection.split(',').map((name) => name.trim().toLowerCase()));
}

/**
 * The request headers for the upstream leg, as a raw [name, value, ...] list in the client's
 * order and spelling: hop-by-hop headers and the client's Host dropped, Host set to the target's
 * authority, the body re-framed as chunked when it came chunked, `Via` appended, and client
 * addresses handled as `forwardedFor` says.
 */
export function requestHeaders(
  req: IncomingMessage,
  authority: string,
  forwardedFor: ForwardedFor,
): string[] {
  const named = namedInConnection(req.headers.connection);
  const raw = req.rawHeaders;
  const headers = ['Host', authority];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named?.has(name) || name === 'host') continue;
    if (FORWARDED_FOR.has(name) && (forwardedFor === 'strip' || name === 'x-forwarded-for')) continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked');
  if (forwardedFor === 'append') {
    const chain = req.headers['x-forwarded-for'];
    const client = unmapped(req.socket.remoteAddress ?? '');
    headers.push('X-Forwarded-For', chain ? `${chain}, ${client}` : client);
  }
  headers.push('Via', `${req.httpVersion} ${VIA_NAME}`);
  return headers;
}

/**
 * The response headers for the client, in the origin's order and spelling, without hop-by-hop
 * headers, with `Via` appended. `Trailer` stays only when the client's copy will be chunked, the
 * one framing that can carry trailers.
 */
export function responseHeaders(response: IncomingMessage, chunkedToClient: boolean): string[] {
  const named = namedInConnection(response.headers.connection);
  const raw = response.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named?.has(name) || (name === 'trailer' && !chunkedToClient)) continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  headers.push('Via', `${response.httpVersion} ${VIA_NAME}`);
  return headers;
}

/** A 103 Early Hints answer's fields, without hop-by-hop ones, as `writeEarlyHints` takes them. */
export function earlyHints(info: InformationEvent): Record<string, string[]> {
  const named = namedInConnection(info.headers.connection);
  const raw = info.rawHeaders;
  const hints: Record<string, string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!HOP_BY_HOP.has(name) && !named?.has(name)) (hints[name] ??= []).push(raw[i + 1]!);
  }
  return hints;
}

/** A response's trailers as [name, value] pairs, without hop-by-hop fields. */
export function endToEndTrailers(response: IncomingMessage): [string, string][] {
  const raw = response.rawTrailers;
  const trailers: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) trailers.push([raw[i]!, raw[i + 1]!]);
  }
  return trailers;
}

/** `::ffff:10.0.0.1` (a dual-stack listener's view of an IPv4 client) as `10.0.0.1`. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
