import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { Agent, type Dispatcher } from 'undici';
import { parseAbsoluteUrl } from '../policy/destination.js';
import { parseIp } from '../policy/ip.js';
import { clientAddress, type Destination } from '../policy/policy.js';
import { admissionError } from './admission.js';
import { answerResponse } from './answer.js';
import type { WorkerContext } from './context.js';
import { asProxyError, ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { checkFraming } from './framing.js';
import { endToEndRequestHeaders } from './hop-by-hop.js';
import { ResponseRelay } from './response-relay.js';
import { openUpstream } from './upstream.js';

/**
 * Forwards absolute-form requests (`GET http://host/path`) over pooled keep-alive upstream
 * connections. undici parses the upstream strictly; its connector is ours, so every new upstream
 * connection goes through the same resolve-check-connect step as a tunnel.
 */
export class Forwarder {
  private agent: Agent;

  constructor(private readonly context: WorkerContext) {
    this.agent = this.createAgent();
  }

  /** After a policy reload: pooled connections were admitted by the old policy, so start afresh. */
  renewPool(): void {
    const old = this.agent;
    this.agent = this.createAgent();
    void old.close();
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { context } = this;
    const exchange = new Exchange(
      context.logger,
      'forward',
      req.socket.remoteAddress ?? '',
      req.method ?? '',
    );
    context.forwardsInFlight++;
    res.once('close', () => context.forwardsInFlight--);
    let bytesUp = 0;
    let relay: ResponseRelay | undefined;
    try {
      const refusal = admissionError(context, req.socket) ?? originFormError(req) ?? checkFraming(req);
      if (refusal) throw refusal;
      const { destination, path, authority } = parseAbsoluteUrl(req.url!);
      exchange.host = destination.host;
      exchange.port = destination.port;
      const denial = context.policy.checkDestination(destination, clientAddress(req.socket.remoteAddress));
      if (denial) throw ProxyError.fromDenial(denial);

      const hasBody =
        req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      let settle!: (error?: Error) => void;
      const settled = new Promise<void>((resolve, reject) => {
        settle = (error) => (error ? reject(error) : resolve());
      });
      relay = new ResponseRelay(res, () => context.draining, settle);
      this.agent.dispatch(
        {
          origin: origin(destination),
          path,
          method: req.method as Dispatcher.HttpMethod,
          headers: [...endToEndRequestHeaders(req.rawHeaders, req.headers.connection), 'host', authority],
          // undici streams async iterables with backpressure (Dispatcher.md); its typings omit them.
          body: hasBody ? (counted(req, (size) => (bytesUp += size)) as unknown as Readable) : null,
        },
        relay,
      );
      await settled;
      exchange.finish({ decision: 'allowed', status: relay.status, bytesUp, bytesDown: relay.bytesDown });
    } catch (error) {
      const failure = upstreamFailure(error);
      if (res.headersSent) res.destroy();
      else answerResponse(res, failure, context.draining || failure.status === 400);
      exchange.finish({
        decision: failure.decision,
        status: failure.status,
        bytesUp,
        bytesDown: relay?.bytesDown ?? 0,
        error: failure,
      });
    }
  }

  private createAgent(): Agent {
    const { timeouts } = this.context.config;
    return new Agent({
      headersTimeout: timeouts.idleMs,
      bodyTimeout: timeouts.idleMs,
      connect: (options, callback) => {
        const hostname = options.hostname.replace(/^\[(.*)\]$/, '$1');
        // undici passes the URL's port, which is empty for the scheme's default (80).
        const port = Number(options.port || 80);
        const destination: Destination = { host: hostname, port, ip: parseIp(hostname) };
        openUpstream(destination, this.context.upstream).then(
          (socket) => callback(null, socket),
          (error: Error) => callback(error, null),
        );
      },
    });
  }
}

/** The request body as undici reads it (with backpressure), counting bytes on the way. */
async function* counted(body: AsyncIterable<Buffer>, count: (size: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of body) {
    count(chunk.length);
    yield chunk;
  }
}

function originFormError(req: IncomingMessage): ProxyError | null {
  return req.url?.startsWith('/') || req.url === '*'
    ? new ProxyError(
        'origin_form',
        'this is a forward proxy: send absolute-form (GET http://host/path) or CONNECT',
      )
    : null;
}

function origin(destination: Destination): string {
  const host = destination.host.includes(':') ? `[${destination.host}]` : destination.host;
  return `http://${host}:${destination.port}`;
}

/** Maps undici's failures to the proxy's answers; errors from our connector pass through. */
function upstreamFailure(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  const { code: rawCode, name } = (error ?? {}) as { code?: unknown; name?: string };
  const code = typeof rawCode === 'string' ? rawCode : undefined;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new ProxyError('connect_timeout', 'connecting upstream timed out', { cause: error });
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return new ProxyError('upstream_timeout', 'the destination stopped answering', { cause: error });
    case 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH':
    case 'UND_ERR_ABORTED':
      return new ProxyError('bad_request', 'the request body ended early', { cause: error });
  }
  if (name === 'HTTPParserError' || code?.startsWith('UND_ERR') || code?.startsWith('E')) {
    return new ProxyError(
      'upstream_bad_response',
      `the destination's response could not be relayed (${code ?? name})`,
      {
        cause: error,
      },
    );
  }
  return asProxyError(error);
}
