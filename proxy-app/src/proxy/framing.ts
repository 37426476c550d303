import type { IncomingMessage } from 'node:http';
import { ProxyError } from './errors.js';

/**
 * Refuses requests whose body length two parsers could read differently (request smuggling).
 * Node's parser already rejects Content-Length with Transfer-Encoding, differing duplicate
 * lengths, obs-fold and bare LF; this adds what it lets through and a forward proxy must not:
 * any repeated length or coding header, and any transfer coding but a lone `chunked`.
 */
export function checkFraming(req: IncomingMessage): ProxyError | null {
  let lengths = 0;
  let codings = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === 'content-length') {
      lengths++;
      if (!/^\d{1,15}$/.test(raw[i + 1]!)) return ambiguous(`Content-Length "${raw[i + 1]}" is not a number`);
    } else if (name === 'transfer-encoding') {
      codings++;
      if (raw[i + 1]!.trim().toLowerCase() !== 'chunked') {
        return ambiguous(`Transfer-Encoding "${raw[i + 1]}" is not "chunked"`);
      }
    }
  }
  if (lengths > 1) return ambiguous('Content-Length appears more than once');
  if (codings > 1) return ambiguous('Transfer-Encoding appears more than once');
  if (lengths && codings) return ambiguous('both Content-Length and Transfer-Encoding');
  if (req.method === 'CONNECT' && (codings || Number(req.headers['content-length'] ?? 0) > 0)) {
    return ambiguous('CONNECT with a request body');
  }
  return null;
}

function ambiguous(message: string): ProxyError {
  return new ProxyError('ambiguous_framing', message);
}
