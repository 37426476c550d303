import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProxyError } from './errors.js';
import { closeLingering } from './linger.js';

export const REASON_HEADER = 'x-egress-proxy-reason';

/** Headers and body of an answer the proxy gives itself: reason in a header and in the JSON body. */
function answerParts(error: ProxyError): { headers: Record<string, string>; body: string } {
  const body = `${JSON.stringify({ status: error.status, reason: error.reason, message: error.message })}\n`;
  const details = error.message.replace(/["\\]/g, '');
  return {
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'proxy-status': `egress-proxy; error=${error.proxyStatusError}; details="${details}"`,
      [REASON_HEADER]: error.reason,
    },
    body,
  };
}

/** Answers on a request the HTTP server is still managing (absolute-form, or a client error). */
export function answerResponse(res: ServerResponse, error: ProxyError, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { headers, body } = answerParts(error);
  if (close) res.shouldKeepAlive = false;
  res.writeHead(error.status, headers);
  res.end(body);
}

/**
 * Answers on a raw socket (a connection over the limit, a CONNECT or Upgrade the server handed
 * over, a parse error) and closes it lingeringly. False if the socket was already being closed.
 */
export function answerSocket(socket: Socket, error: ProxyError): boolean {
  const { headers, body } = answerParts(error);
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  return closeLingering(
    socket,
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\n${lines.join('')}connection: close\r\n\r\n${body}`,
  );
}
