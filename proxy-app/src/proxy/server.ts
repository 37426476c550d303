import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { answerSocket } from './answer.js';
import type { WorkerContext } from './context.js';
import { ProxyError, type Reason } from './errors.js';
import { Exchange } from './exchange.js';
import { FirstRead } from './first-read.js';
import { checkFraming } from './framing.js';
import { Forwarder } from './forward.js';
import { claim, enqueue, interruptActive, MAX_PIPELINED } from './in-order.js';
import { counts, metrics } from './metrics.js';
import { handleConnect } from './tunnel.js';

/** Parser errors that mean the message framing itself is untrustworthy. */
const FRAMING_ERRORS = new Set([
  'HPE_UNEXPECTED_CONTENT_LENGTH',
  'HPE_INVALID_CONTENT_LENGTH',
  'HPE_INVALID_TRANSFER_ENCODING',
  'HPE_INVALID_CHUNK_SIZE',
  'HPE_LF_EXPECTED',
  'HPE_CR_EXPECTED',
  'HPE_INVALID_HEADER_TOKEN',
]);

const REFUSING = Symbol('egress-proxy.refusing');

/**
 * The listener: admission first (a connection over limits.maxConnections is answered 503 and
 * closed before the HTTP parser sees it), then Node's HTTP parser (strict mode). One exchange
 * runs at a time per connection: CONNECT goes to the tunnel handler, absolute-form requests to
 * the forwarder, and what cannot be served gets a coded answer and a lingering close.
 */
export function createProxyServer(context: WorkerContext): { server: Server; forwarder: Forwarder } {
  const { timeouts, limits } = context.config;
  const forwarder = new Forwarder(context);
  const server = createServer({
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: timeouts.headersMs,
    // Bodies may stream for as long as they keep moving; `timeout` below bounds inactivity.
    requestTimeout: 0,
    keepAliveTimeout: timeouts.idleMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, timeouts.headersMs / 2)),
    requireHostHeader: false,
    noDelay: true,
  });
  server.timeout = timeouts.idleMs;

  const serveHttp = takeConnectionHandler(server);
  const firstRead = new FirstRead({
    headersMs: timeouts.headersMs,
    maxHeaderBytes: limits.maxHeaderBytes,
    connect: (socket, target, head) => {
      watchDetached(socket, timeouts.idleMs);
      void handleConnect(context, socket, target, head, null);
    },
    serveHttp: (socket) => serveHttp.call(server, socket),
    timedOut: (socket) => refuseUnreadable(context, socket, 'ERR_HTTP_REQUEST_TIMEOUT'),
  });
  admitConnections(server, context, (socket) => firstRead.start(socket));

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const socket = req.socket;
    if (claim(socket)) forwarder.handle(req, res);
    else if (!enqueue(socket, () => forwarder.handle(req, res), true)) {
      context.logger.warn(
        { client: socket.remoteAddress, limit: MAX_PIPELINED },
        'closed a connection that pipelined too many requests',
      );
    }
  };
  server.on('request', onRequest);
  // An `Expect: 100-continue` request: the origin decides whether the body is wanted (see Relay).
  server.on('checkContinue', onRequest);

  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    watchDetached(socket, timeouts.idleMs);
    inTurn(socket, () => void handleConnect(context, socket, req.url ?? '', head, checkFraming(req)));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    watchDetached(socket, timeouts.idleMs);
    inTurn(socket, () =>
      refuseOnSocket(
        context,
        socket,
        req.method ?? '',
        new ProxyError('bad_request', 'protocol upgrades are not forwarded; use CONNECT'),
      ),
    );
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
    refuseUnreadable(context, socket, error.code ?? error.message),
  );
  return { server, forwarder };
}

/**
 * Counts each new connection against limits.maxConnections before anything is read from it: one
 * within this worker's lease is served at once; one that must wait for the primary is held
 * unread (no request is parsed) until it has a slot, or is answered 503 and closed.
 */
function admitConnections(server: Server, context: WorkerContext, serve: (socket: Socket) => void): void {
  const releaseSlot = (): void => context.slots.release();
  const admit = (socket: Socket): void => {
    socket.on('close', releaseSlot);
    serve(socket);
  };
  const tooMany = new ProxyError(
    'too_many_connections',
    `the proxy is at limits.maxConnections (${context.config.limits.maxConnections})`,
  );
  server.on('connection', (socket: Socket) => {
    counts.openConnections++;
    // 'close' comes once: `on` spares the `once` wrapper each connection would keep while open.
    socket.on('close', countClosed);
    if (context.slots.take()) {
      admit(socket);
      return;
    }
    socket.on('error', destroySelf);
    context.slots.wait((admitted) => {
      if (!admitted) {
        metrics.connectionsRefused.inc();
        answerSocket(socket, tooMany);
      } else if (socket.destroyed) {
        context.slots.release();
      } else {
        admit(socket);
      }
    });
  });
}

/**
 * Node's HTTP server serves a connection from its own 'connection' listener. Taking that
 * listener lets admission run first, and a refused connection never reaches the HTTP parser
 * (the documented way to hand a socket to an HTTP server is the same 'connection' event).
 */
function takeConnectionHandler(server: Server): (this: Server, socket: Socket) => void {
  const listeners = server.listeners('connection') as ((this: Server, socket: Socket) => void)[];
  if (listeners.length !== 1) {
    throw new Error(`expected Node's HTTP server to have one connection listener, found ${listeners.length}`);
  }
  server.removeAllListeners('connection');
  return listeners[0]!;
}

/** Work that must wait for the exchanges before it on this connection (a CONNECT, a refusal). */
function inTurn(socket: Socket, work: () => void): void {
  if (claim(socket)) work();
  else enqueue(socket, work, false);
}

/**
 * A socket the HTTP server handed over (CONNECT, Upgrade) has no server error or timeout
 * handling any more; until the tunnel takes it, an error or `idleMs` without traffic closes it.
 */
function watchDetached(socket: Socket, idleMs: number): void {
  socket.on('error', destroySelf);
  socket.setTimeout(idleMs);
  socket.on('timeout', destroySelf);
}

/**
 * A request that cannot be read: Node's parser failed (`code` is its error code), or no head
 * arrived in time. Answered once per connection, in its turn after the exchanges before it.
 */
function refuseUnreadable(context: WorkerContext, socket: Socket, code: string): void {
  // Node reports every further chunk on a connection whose parser failed; answer once.
  const marked = socket as Socket & { [REFUSING]?: true };
  if (marked[REFUSING]) return;
  marked[REFUSING] = true;
  if (code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const reason: Reason =
    code === 'HPE_HEADER_OVERFLOW'
      ? 'headers_too_large'
      : code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 'headers_timeout'
        : FRAMING_ERRORS.has(code)
          ? 'ambiguous_framing'
          : 'bad_request';
  const failure = new ProxyError(reason, `unreadable request (${code})`);
  if (interruptActive(socket, failure)) return;
  inTurn(socket, () => refuseOnSocket(context, socket, '', failure));
}

function refuseOnSocket(context: WorkerContext, socket: Socket, method: string, failure: ProxyError): void {
  if (!answerSocket(socket, failure)) return;
  new Exchange(context.logger, 'forward', socket.remoteAddress ?? '', method).finish({
    decision: failure.decision,
    status: failure.status,
    error: failure,
  });
}

function countClosed(): void {
  counts.openConnections--;
}

function destroySelf(this: Socket): void {
  this.destroy();
}
