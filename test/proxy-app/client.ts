/** Raw-socket HTTP clients for talking to the proxy exactly as a test needs, byte for byte. */
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly raw: string;
}

/** Opens a TCP connection (to the proxy, unless told otherwise), optionally from a given local address. */
export function dial(port: number, host = '127.0.0.1', localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress, allowHalfOpen: true });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends bytes on a new connection, reads one response, and closes the connection. */
export async function exchange(port: number, request: string, timeoutMs = 5_000): Promise<RawResponse> {
  const socket = await dial(port);
  socket.write(request);
  return readResponse(socket, timeoutMs).finally(() => socket.destroy());
}

/** Reads one response (headers and, when framed by Content-Length, its body) from a socket. */
export function readResponse(socket: Socket, timeoutMs = 5_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const timer = setTimeout(
      () => finish(new Error(`no complete response within ${timeoutMs} ms: ${JSON.stringify(raw)}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      raw += chunk.toString('latin1');
      const parsed = parse(raw);
      if (parsed) finish(null, parsed);
    };
    const onEnd = (): void => {
      const parsed = parse(raw, true);
      finish(
        parsed ? null : new Error(`connection closed without a response: ${JSON.stringify(raw)}`),
        parsed ?? undefined,
      );
    };
    const finish = (error: Error | null, response?: RawResponse): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      if (error) reject(error);
      else resolve(response!);
    };
    const onError = (error: Error): void => finish(error);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.resume();
  });
}

function parse(raw: string, ended = false): RawResponse | null {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const [statusLine, ...lines] = raw.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine!.split(' ')[1]);
  const body = raw.slice(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    const decoded = decodeChunked(body);
    return decoded === null ? null : { status, headers, body: decoded, raw };
  }
  const length = headers['content-length'];
  if (length !== undefined && body.length < Number(length)) return null;
  if (length === undefined && status !== 200 && !ended) return null;
  return { status, headers, body: length === undefined ? body : body.slice(0, Number(length)), raw };
}

/** A complete chunked body, decoded; null while the last chunk has not arrived. */
function decodeChunked(body: string): string | null {
  let decoded = '';
  let offset = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', offset);
    if (lineEnd === -1) return null;
    const size = parseInt(body.slice(offset, lineEnd), 16);
    if (size === 0) return body.indexOf('\r\n', lineEnd + 2) === -1 ? null : decoded;
    if (body.length < lineEnd + 2 + size + 2) return null;
    decoded += body.slice(lineEnd + 2, lineEnd + 2 + size);
    offset = lineEnd + 2 + size + 2;
  }
}

/**
 * Opens a CONNECT tunnel; resolves once the proxy answered 200, with the socket paused and any
 * tunnelled bytes that arrived with the answer put back, so a reader that resumes it misses none.
 */
export async function tunnel(port: number, authority: string): Promise<Socket> {
  const socket = await dial(port);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  const response = await readResponse(socket);
  socket.pause();
  if (response.status !== 200) throw new Error(`CONNECT ${authority}: ${response.status} ${response.body}`);
  const early = response.raw.slice(response.raw.indexOf('\r\n\r\n') + 4);
  if (early) socket.unshift(Buffer.from(early, 'latin1'));
  return socket;
}

/** Reads a response head (through the blank line) and returns its status line fields and raw text. */
export function readHead(socket: Socket, timeoutMs = 5_000): Promise<{ status: number; raw: string }> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const timer = setTimeout(() => finish(new Error(`no response head within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      raw += chunk.toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      if (end === -1) return;
      finish(null, { status: Number(raw.split(' ')[1]), raw: raw.slice(0, end + 4) });
      // Put back what follows the head, for the next reader (after this one stopped listening).
      const rest = raw.slice(end + 4);
      if (rest) socket.unshift(Buffer.from(rest, 'latin1'));
    };
    const onEnd = (): void =>
      finish(new Error(`connection closed before a response head: ${JSON.stringify(raw)}`));
    const finish = (error: Error | null, head?: { status: number; raw: string }): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      if (error) reject(error);
      else resolve(head!);
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  });
}

/** Everything the peer sends until it ends the connection (or `timeoutMs` passes: rejects). */
export function readUntilEnd(socket: Socket, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const timer = setTimeout(
      () => reject(new Error(`not ended within ${timeoutMs} ms; got ${JSON.stringify(raw.slice(0, 500))}`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => (raw += chunk.toString('latin1')));
    socket.once('end', () => {
      clearTimeout(timer);
      resolve(raw);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.resume();
  });
}

/** One sample of a Prometheus series from the proxy's metrics port; undefined when the series is absent. */
export async function metricValue(metricsPort: number, series: string): Promise<number | undefined> {
  const { body } = await exchange(
    metricsPort,
    'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
  );
  for (const line of body.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
