/**
 * The loopback origin, run as its own process so it never shares an event loop with the load
 * generator. Four plain TCP servers on 127.0.0.1, each with one job; the ports go to the parent
 * over IPC. Run only by `loopback-origin.ts`.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { SHORT_ANSWER, type OriginPorts } from './loopback-origin.js';

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
/** The body of every HTTP answer: small, so the figures are about the proxy, not the bytes. */
const HTTP_BODY_BYTES = 128;
const HTTP_RESPONSE = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${HTTP_BODY_BYTES}\r\n\r\n` +
    'x'.repeat(HTTP_BODY_BYTES),
);
const END_OF_HEAD = Buffer.from('\r\n\r\n');

function quiet(socket: Socket): void {
  socket.setNoDelay(true);
  socket.on('error', () => socket.destroy());
}

/** Source: sends 64 KiB chunks as fast as the reader takes them, until the reader goes away. */
function source(socket: Socket): void {
  quiet(socket);
  socket.resume();
  const pump = (): void => {
    while (!socket.destroyed && socket.write(CHUNK));
  };
  socket.on('drain', pump);
  pump();
}

/** Answer, then close first: the TIME_WAIT stays on the server side, not on a client's port. */
function answerThenClose(socket: Socket): void {
  quiet(socket);
  socket.once('data', () => socket.end(SHORT_ANSWER));
}

/** Hold: echoes whatever arrives and never closes (the idle tunnels' far end). */
function hold(socket: Socket): void {
  quiet(socket);
  socket.on('data', (data: Buffer) => socket.write(data));
}

/** HTTP/1.1 keep-alive: one fixed 200 per request head (the workloads send GETs without bodies). */
function http(socket: Socket): void {
  quiet(socket);
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (data: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    let answers = 0;
    let at = 0;
    for (let end = pending.indexOf(END_OF_HEAD, at); end >= 0; end = pending.indexOf(END_OF_HEAD, at)) {
      answers++;
      at = end + END_OF_HEAD.length;
    }
    pending = pending.subarray(at);
    for (let i = 0; i < answers; i++) socket.write(HTTP_RESPONSE);
  });
}

function listen(handler: (socket: Socket) => void): Promise<Server> {
  const server = createServer({ noDelay: true }, handler);
  server.maxConnections = 100_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('origin has no TCP port');
  return address.port;
}

const [sourceServer, answerServer, holdServer, httpServer] = await Promise.all([
  listen(source),
  listen(answerThenClose),
  listen(hold),
  listen(http),
]);
const ports: OriginPorts = {
  source: portOf(sourceServer),
  answer: portOf(answerServer),
  hold: portOf(holdServer),
  http: portOf(httpServer),
};
process.send?.(ports);
// The parent's IPC channel closing means it is gone: do not outlive it.
process.on('disconnect', () => process.exit(0));
