/** Origin servers on loopback that the proxy forwards to in tests. */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as TcpServer,
  type Socket,
} from 'node:net';

export interface HttpOrigin {
  readonly port: number;
  /** Every request the origin received: method, url, headers. */
  readonly seen: { method: string; url: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/**
 * An HTTP origin: `/sha256` hashes the request body, `/bytes/N` streams N deterministic bytes,
 * anything else echoes the method and URL.
 */
export async function startHttpOrigin(): Promise<HttpOrigin> {
  const seen: HttpOrigin['seen'] = [];
  const server: Server = createHttpServer((req, res) => {
    seen.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (req.url === '/sha256') {
      const hash = createHash('sha256');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(hash.digest('hex')));
      return;
    }
    const bytes = /^\/bytes\/(\d+)$/.exec(req.url!);
    if (bytes) {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-sha256': sha256OfPattern(Number(bytes[1])),
      });
      streamPattern(
        Number(bytes[1]),
        (chunk, done) => (done ? res.end(chunk) : res.write(chunk)),
        (cb) => res.once('drain', cb),
      );
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/plain',
      connection: 'keep-alive, x-private-hop',
      'x-private-hop': 'must not reach the client',
      'keep-alive': 'timeout=5',
    });
    res.end(`${req.method} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Starts a test's own HTTP server on a free loopback port and returns the port. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

const CHUNK = 64 * 1024;

function patternChunk(offset: number, size: number): Buffer {
  const chunk = Buffer.alloc(size);
  for (let i = 0; i < size; i++) chunk[i] = (offset + i) % 251;
  return chunk;
}

/** Writes `total` bytes of a fixed pattern, respecting backpressure. */
export function streamPattern(
  total: number,
  write: (chunk: Buffer, done: boolean) => unknown,
  onDrain: (callback: () => void) => void,
): void {
  let offset = 0;
  const pump = (): void => {
    while (offset < total) {
      const size = Math.min(CHUNK, total - offset);
      const chunk = patternChunk(offset, size);
      offset += size;
      if (offset >= total) {
        write(chunk, true);
        return;
      }
      if (write(chunk, false) === false) {
        onDrain(pump);
        return;
      }
    }
    write(Buffer.alloc(0), true);
  };
  pump();
}

export function sha256OfPattern(total: number): string {
  const hash = createHash('sha256');
  for (let offset = 0; offset < total; offset += CHUNK)
    hash.update(patternChunk(offset, Math.min(CHUNK, total - offset)));
  return hash.digest('hex');
}

export interface TcpOrigin {
  readonly port: number;
  readonly server: TcpServer;
  close(): Promise<void>;
}

/** A raw TCP origin whose behaviour the test supplies per connection. */
export async function startTcpOrigin(
  onConnection: (socket: Socket) => void,
  { host = '127.0.0.1', port = 0 }: { host?: string; port?: number } = {},
): Promise<TcpOrigin> {
  const sockets = new Set<Socket>();
  const server = createTcpServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    server,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
