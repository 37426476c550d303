/** A CONNECT request head read without Node's HTTP parser (see `readConnectHead`). */
export interface ConnectHead {
  /** The request target, authority-form (`host:port`), not yet checked (see parseAuthority). */
  readonly target: string;
  /** Where the bytes after the head (the start of the tunnel) begin in the chunk. */
  readonly end: number;
}

const CR = 0x0d;
const LF = 0x0a;
const PREFIX = Buffer.from('CONNECT ', 'latin1');
const TERMINATOR = Buffer.from('\r\n\r\n', 'latin1');

/** RFC 9110 §5.6.2 tchar. */
const TOKEN = byteClass("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
/** Bytes an authority-form target may hold here: host names, IPv4, [IPv6], the port. */
const TARGET = byteClass('-.:[]_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
/** Request headers whose presence decides how the message is framed. */
const FRAMING = new Set(['content-length', 'transfer-encoding']);

/**
 * Reads `chunk` as a CONNECT request head if it is one in its plainest form, and says null
 * otherwise, for Node's parser to decide. The grammar accepted is a strict subset of RFC 9112's,
 * and of what Node's strict parser accepts with the same meaning:
 *
 *     CONNECT SP target SP HTTP/1.(0|1) CRLF *( token ":" *( SP / HTAB / VCHAR ) CRLF ) CRLF
 *
 * within `maxBytes`, with the whole head in this one chunk, and no Content-Length or
 * Transfer-Encoding (a CONNECT with a body is refused as ambiguous on the other path). Anything
 * else (another method, a head split across reads, obs-fold, obs-text, a bare CR or LF, any other
 * control byte) returns null, so each limit and refusal stays where it is enforced today: this
 * reader can only take the common case away from the parser, never accept what it would refuse.
 */
export function readConnectHead(chunk: Buffer, maxBytes: number): ConnectHead | null {
  if (chunk.length < PREFIX.length || PREFIX.compare(chunk, 0, PREFIX.length) !== 0) return null;
  const terminator = chunk.indexOf(TERMINATOR);
  if (terminator < 0 || terminator + TERMINATOR.length > maxBytes) return null;

  let at = PREFIX.length;
  const targetStart = at;
  while (at < terminator && TARGET[chunk[at]!]) at++;
  if (at === targetStart || chunk[at] !== 0x20) return null;
  const target = chunk.toString('latin1', targetStart, at);
  at++;
  if (!isVersion(chunk, at)) return null;
  at += 'HTTP/1.x\r\n'.length;

  // Header lines up to the terminator's CRLF: the last one ends at `terminator + 2`.
  while (at < terminator + 2) {
    const end = readHeaderLine(chunk, at);
    if (end < 0) return null;
    at = end;
  }
  return { target, end: terminator + TERMINATOR.length };
}

/** `HTTP/1.0` or `HTTP/1.1` followed by CRLF at `at`. */
function isVersion(chunk: Buffer, at: number): boolean {
  return (
    chunk.toString('latin1', at, at + 7) === 'HTTP/1.' &&
    (chunk[at + 7] === 0x30 || chunk[at + 7] === 0x31) &&
    chunk[at + 8] === CR &&
    chunk[at + 9] === LF
  );
}

/** One `token ":" value CRLF` line from `at`: where the next begins, or -1 if it is not that. */
function readHeaderLine(chunk: Buffer, at: number): number {
  const nameStart = at;
  while (TOKEN[chunk[at]!]) at++;
  if (at === nameStart || chunk[at] !== 0x3a) return -1;
  if (FRAMING.has(chunk.toString('latin1', nameStart, at).toLowerCase())) return -1;
  at++;
  for (let byte = chunk[at]; byte !== CR; byte = chunk[++at]) {
    // SP, HTAB and VCHAR only: no other control byte, no obs-text.
    if (byte === undefined || (byte < 0x20 && byte !== 0x09) || byte > 0x7e) return -1;
  }
  return chunk[at + 1] === LF ? at + 2 : -1;
}

function byteClass(members: string): Uint8Array {
  const table = new Uint8Array(256);
  for (let i = 0; i < members.length; i++) table[members.charCodeAt(i)] = 1;
  return table;
}
