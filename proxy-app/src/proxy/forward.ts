import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { parseAbsoluteUrl } from '../policy/destination.js';
import type { IpBytes } from '../policy/ip.js';
import { clientAddress } from '../policy/policy.js';
import { answerResponse } from './answer.js';
import { drainingError, type WorkerContext } from './context.js';
import { asProxyError, ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { checkFraming } from './framing.js';
import { release, setActive } from './in-order.js';
import { UpstreamPool } from './pool.js';
import { Relay } from './relay.js';
import { openUpstream } from './upstream.js';

/**
 * Forwards absolute-form requests (`GET http://host/path`): admission, framing and policy checks,
 * then a Relay over a pooled upstream connection. The path and query go upstream byte for byte.
 */
export class Forwarder {
  private pool: UpstreamPool;

  constructor(private readonly context: WorkerContext) {
    this.pool = this.createPool();
  }

  /** After a policy reload: pooled connections were admitted by the old policy, so start afresh. */
  renewPool(): void {
    this.pool.retire();
    this.pool = this.createPool();
  }

  close(): Promise<void> {
    this.pool.destroy();
    return Promise.resolve();
  }

  /** Handles one request; its response's 'close' releases the connection for the next one. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const { context } = this;
    const socket = req.socket;
    const exchange = new Exchange(context.logger, 'forward', socket.remoteAddress ?? '', req.method ?? '');
    context.forwardsInFlight++;
    const done = (): void => {
      context.forwardsInFlight--;
      release(socket);
    };
    let target: ReturnType<typeof parseAbsoluteUrl>;
    try {
      const refusal = drainingError(context) ?? originFormError(req) ?? checkFraming(req);
      if (refusal) throw refusal;
      target = parseAbsoluteUrl(req.url!);
      exchange.host = target.destination.host;
      exchange.port = target.destination.port;
      const denial = context.policy.checkDestination(target.destination, clientOf(socket));
      if (denial) throw ProxyError.fromDenial(denial);
    } catch (error) {
      res.once('close', done);
      const failure = asProxyError(error);
      answerResponse(res, failure, context.draining || failure.status === 400);
      exchange.finish({ decision: failure.decision, status: failure.status, error: failure });
      return;
    }
    const relay = new Relay(context, req, res, exchange);
    res.once('close', () => {
      relay.clientClosed();
      done();
    });
    setActive(socket, relay);
    relay.start(this.pool, target);
  }

  private createPool(): UpstreamPool {
    return new UpstreamPool((destination, client) =>
      openUpstream(destination, client, this.context.upstream),
    );
  }
}

const CLIENT = Symbol('egress-proxy.clientAddress');

/** The client's address as bytes, read once per connection: a keep-alive client sends many requests. */
function clientOf(socket: Socket & { [CLIENT]?: IpBytes | null }): IpBytes | null {
  if (socket[CLIENT] === undefined) socket[CLIENT] = clientAddress(socket.remoteAddress);
  return socket[CLIENT];
}

function originFormError(req: IncomingMessage): ProxyError | null {
  return req.url?.startsWith('/') || req.url === '*'
    ? new ProxyError(
        'origin_form',
        'this is a forward proxy: send absolute-form (GET http://host/path) or CONNECT',
      )
    : null;
}
