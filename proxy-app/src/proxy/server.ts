import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { admitConnection } from './admission.js';
import { answerSocket } from './answer.js';
import type { WorkerContext } from './context.js';
import { ProxyError, type Reason } from './errors.js';
import { Exchange } from './exchange.js';
import { Forwarder } from './forward.js';
import { metrics } from './metrics.js';
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

/**
 * The listener: Node's HTTP parser (strict mode) reads requests; CONNECT goes to the tunnel
 * handler, absolute-form requests to the forwarder, and parse failures get a coded answer.
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

  server.on('connection', (socket: Socket) => {
    metrics.openConnections.inc();
    const admitted = admitConnection(context, socket);
    socket.on('close', () => {
      metrics.openConnections.dec();
      if (admitted) context.limit.release();
    });
  });
  server.on('connect', (req, socket: Socket, head: Buffer) => void handleConnect(context, req, socket, head));
  server.on('request', (req, res) => void forwarder.handle(req, res));
  server.on('upgrade', (req, socket: Socket) => {
    rejectOnSocket(
      context,
      socket,
      req.method ?? '',
      'bad_request',
      'protocol upgrades are not forwarded; use CONNECT',
    );
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const reason: Reason =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 'headers_too_large'
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'headers_timeout'
          : FRAMING_ERRORS.has(error.code ?? '')
            ? 'ambiguous_framing'
            : 'bad_request';
    rejectOnSocket(context, socket, '', reason, `unreadable request (${error.code ?? error.message})`);
  });
  return { server, forwarder };
}

function rejectOnSocket(
  context: WorkerContext,
  socket: Socket,
  method: string,
  reason: Reason,
  message: string,
): void {
  const failure = new ProxyError(reason, message);
  answerSocket(socket, failure);
  new Exchange(context.logger, 'forward', socket.remoteAddress ?? '', method).finish({
    decision: failure.decision,
    status: failure.status,
    error: failure,
  });
}
