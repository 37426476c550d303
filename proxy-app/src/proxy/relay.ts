import {
  request,
  type ClientRequest,
  type IncomingMessage,
  type InformationEvent,
  type RequestOptions,
  type ServerResponse,
} from 'node:http';
import type { AbsoluteTarget } from '../policy/destination.js';
import { answerResponse } from './answer.js';
import type { WorkerContext } from './context.js';
import { ProxyError } from './errors.js';
import { CLIENT_CLOSED_REQUEST, type Exchange } from './exchange.js';
import { earlyHints, endToEndTrailers, requestHeaders, responseHeaders } from './headers.js';
import type { Interruptible } from './in-order.js';
import { POOL_REQUEST, type PoolRequest, type UpstreamPool } from './pool.js';

/**
 * One forwarded exchange: the client's request streamed upstream, the origin's response streamed
 * back, each side paused while the other is slow, and one outcome for the access log. The status
 * line's reason phrase, the headers' order and spelling, trailers, an origin's 100 Continue (to a
 * client that asked for one) and its 103 Early Hints are relayed; other 1xx answers are dropped.
 */
export class Relay implements Interruptible {
  private upstream: ClientRequest | undefined;
  private status = 0;
  private bytesUp = 0;
  private bytesDown = 0;
  private bodySent = false;
  private settled = false;

  constructor(
    private readonly context: WorkerContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly exchange: Exchange,
  ) {}

  start(pool: UpstreamPool, target: AbsoluteTarget): void {
    const { req, res, context } = this;
    const { idleMs } = context.config.timeouts;
    const expectsContinue = req.headers.expect !== undefined;
    let upstream: ClientRequest;
    try {
      const options: RequestOptions & { [POOL_REQUEST]: PoolRequest } = {
        agent: pool.asAgent(),
        host: target.destination.host,
        port: target.destination.port,
        method: req.method,
        path: target.path,
        setHost: false,
        headers: requestHeaders(req, target.authority, context.config.proxy.forwardedFor),
        timeout: idleMs,
        [POOL_REQUEST]: {
          key: target.authority,
          destination: target.destination,
          client: req.socket.remoteAddress ?? '',
          idleMs,
        },
      };
      upstream = request(options);
    } catch (error) {
      // Node's client checks what the server's parser let through (methods, header values).
      this.fail(
        new ProxyError('bad_request', 'the request cannot be forwarded as sent', { detail: String(error) }),
      );
      return;
    }
    this.upstream = upstream;
    res.on('timeout', () => this.clientIdle());
    upstream.on('response', (response) => this.relayResponse(response));
    upstream.on('timeout', () =>
      upstream.destroy(
        new ProxyError('upstream_timeout', 'the destination stopped answering', {
          detail: `idle for ${idleMs} ms`,
        }),
      ),
    );
    upstream.on('error', (error) => this.fail(upstreamFailure(error)));
    upstream.on('information', (info) => this.relayEarlyHints(info));
    if (expectsContinue) {
      upstream.once('continue', () => res.writeContinue());
      // The head goes out now; the client sends its body only after the origin's 100 Continue.
      upstream.flushHeaders();
    }
    this.relayBody(upstream);
  }

  interrupt(error: ProxyError): boolean {
    if (this.req.complete) return false;
    this.fail(error);
    return true;
  }

  private relayBody(upstream: ClientRequest): void {
    const { req } = this;
    const length = req.headers['content-length'];
    if (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) {
      this.bodySent = true;
      upstream.end();
      return;
    }
    req.on('data', (chunk: Buffer) => {
      this.bytesUp += chunk.length;
      if (!upstream.write(chunk)) {
        req.pause();
        upstream.once('drain', () => req.resume());
      }
    });
    req.once('end', () => {
      this.bodySent = true;
      upstream.end();
    });
  }

  /**
   * RFC 9110 §15.2: a proxy forwards 1xx answers, except to an HTTP/1.0 client. Node's server can
   * write 100 and 103 only; 100 is relayed by `continue` above, 102 and 104+ are dropped.
   */
  private relayEarlyHints(info: InformationEvent): void {
    if (info.statusCode !== 103 || this.res.headersSent || this.req.httpVersion === '1.0') return;
    try {
      this.res.writeEarlyHints(earlyHints(info));
    } catch {
      // A hint Node refuses to write (e.g. a malformed Link) is dropped; the final answer follows.
    }
  }

  private relayResponse(response: IncomingMessage): void {
    const { req, res } = this;
    this.status = response.statusCode!;
    const hasBody = req.method !== 'HEAD' && this.status !== 204 && this.status !== 304;
    const chunked = hasBody && response.headers['content-length'] === undefined && req.httpVersion !== '1.0';
    try {
      if (this.context.draining) res.shouldKeepAlive = false;
      res.writeHead(this.status, response.statusMessage, responseHeaders(response, chunked));
    } catch (error) {
      this.fail(
        new ProxyError('upstream_bad_response', "the destination's response cannot be relayed", {
          detail: String(error),
        }),
      );
      return;
    }
    response.on('data', (chunk: Buffer) => {
      this.bytesDown += chunk.length;
      if (!res.write(chunk)) {
        response.pause();
        res.once('drain', () => response.resume());
      }
    });
    response.once('error', () =>
      this.fail(new ProxyError('upstream_closed', 'the destination closed the connection mid-response')),
    );
    response.once('end', () => this.complete(response));
  }

  private complete(response: IncomingMessage): void {
    const { res } = this;
    try {
      if (response.rawTrailers.length > 0) res.addTrailers(endToEndTrailers(response));
    } catch (error) {
      this.fail(
        new ProxyError('upstream_bad_response', "the destination's trailers cannot be relayed", {
          detail: String(error),
        }),
      );
      return;
    }
    this.settled = true;
    res.end();
    // The origin answered before the whole body arrived: that connection cannot carry another request.
    if (!this.bodySent) this.upstream?.destroy();
    this.exchange.finish({
      decision: 'allowed',
      status: this.status,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
    });
  }

  private fail(failure: ProxyError): void {
    if (this.settled) return;
    this.settled = true;
    this.upstream?.destroy();
    if (this.res.headersSent) this.res.destroy();
    else answerResponse(this.res, failure, this.context.draining || failure.status === 400);
    this.exchange.finish({
      decision: failure.decision,
      status: this.status || failure.status,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
      error: failure,
    });
  }

  /**
   * The client connection was idle for `idleMs`. While the origin has yet to answer, that is the
   * origin's silence, and the upstream's own idle timeout answers 504; otherwise the client
   * stopped sending or reading, and the connection closes.
   */
  private clientIdle(): void {
    if (this.bodySent && this.status === 0 && !this.settled) return;
    this.res.destroy();
  }

  /** The client connection closed; before the exchange was complete, that is its choice, not an error. */
  clientClosed(): void {
    if (this.settled) return;
    this.settled = true;
    this.upstream?.destroy();
    this.exchange.finish({
      decision: 'aborted',
      status: this.status || CLIENT_CLOSED_REQUEST,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
    });
  }
}

/**
 * What went wrong upstream, by where it came from: the proxy's own errors (connect, policy,
 * timeouts) carry their reason; Node's HTTP parser marks what it could not parse with the bytes
 * (`rawPacket`); anything else on the upstream socket means it closed or reset mid-exchange.
 */
function upstreamFailure(error: Error): ProxyError {
  if (error instanceof ProxyError) return error;
  const detail = (error as NodeJS.ErrnoException).code ?? error.message;
  if ('rawPacket' in error) {
    return new ProxyError('upstream_bad_response', "the destination's response is not valid HTTP", {
      detail,
    });
  }
  return new ProxyError(
    'upstream_closed',
    'the destination closed the connection before its response was complete',
    {
      detail,
    },
  );
}
