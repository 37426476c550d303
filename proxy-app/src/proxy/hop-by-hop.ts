/** Headers that describe one connection, never forwarded (RFC 9110 7.6.1), plus proxy credentials. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node's server already answered "100 Continue"; the upstream leg must not wait for it again.
  'expect',
]);

/** The names listed in Connection headers: hop-by-hop for this message only. */
function namedInConnection(connection: string | string[] | undefined): Set<string> {
  const values = Array.isArray(connection) ? connection : connection ? [connection] : [];
  return new Set(values.flatMap((value) => value.split(',').map((name) => name.trim().toLowerCase())));
}

/** A request's raw [name, value, ...] list without hop-by-hop headers, order and repeats kept. */
export function endToEndRequestHeaders(
  rawHeaders: readonly string[],
  connection: string | undefined,
): string[] {
  const named = namedInConnection(connection);
  const kept: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || name === 'host') continue;
    kept.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return kept;
}

/** A response's headers (undici's lower-case object) without hop-by-hop headers. */
export function endToEndResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const named = namedInConnection(headers.connection);
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}
