import { Agent, type ClientRequestArgs, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseAbsoluteUrl } from '../policy/destination.js';
import { clientAddress, type Destination } from '../policy/policy.js';
import { answerResponse } from './answer.js';
import { drainingError, type WorkerContext } from './context.js';
import { asProxyError, ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { checkFraming } from './framing.js';
import { release, setActive } from './in-order.js';
import { DESTINATION, Relay, type UpstreamRequestOptions } from './relay.js';
import { openUpstream } from './upstream.js';

/** Pooled upstream connections idle longer than this are closed (sooner if the origin says so). */
const POOL_IDLE_MS = 4_000;

/**
 * Node's HTTP client, with every new upstream connection made by the proxy's own
 * resolve-check-connect step (`openUpstream`) and pooled per destination. Node's client, not
 * undici: it passes 1xx answers on as events (undici turns an unexpected 100 Continue into an
 * error) and lets a request carry `Expect: 100-continue` (undici refuses the header).
 */
class UpstreamAgent extends Agent {
  /** Forwards using this agent now; a retired agent is destroyed when the last one ends. */
  active = 0;
  retired = false;

  constructor(
    private readonly open: (destination: Destination, client: string) => ReturnType<typeof openUpstream>,
  ) {
    super({ keepAlive: true, scheduling: 'lifo', timeout: POOL_IDLE_MS });
  }

  /** Node's Agent always passes `callback` and takes the socket (or the error) through it. */
  override createConnection(
    options: ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): undefined {
    const { destination, client } = (options as UpstreamRequestOptions)[DESTINATION];
    this.open(destination, client).then(
      (socket) => callback!(null, socket),
      // @types/node wants a stream with the error too; Node ignores it.
      (error: Error) => callback!(error, undefined as never),
    );
    return undefined;
  }

  done(): void {
    if (--this.active === 0 && this.retired) this.destroy();
  }
}

/**
 * Forwards absolute-form requests (`GET http://host/path`): admission, framing and policy checks,
 * then a Relay over a pooled upstream connection. The path and query go upstream byte for byte.
 */
export class Forwarder {
  private agent: UpstreamAgent;

  constructor(private readonly context: WorkerContext) {
    this.agent = this.createAgent();
  }

  /** After a policy reload: pooled connections were admitted by the old policy, so start afresh. */
  renewPool(): void {
    const old = this.agent;
    this.agent = this.createAgent();
    old.retired = true;
    if (old.active === 0) old.destroy();
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  /** Handles one request; its response's 'close' releases the connection for the next one. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const { context } = this;
    const socket = req.socket;
    const exchange = new Exchange(context.logger, 'forward', socket.remoteAddress ?? '', req.method ?? '');
    context.forwardsInFlight++;
    res.once('close', () => {
      context.forwardsInFlight--;
      release(socket);
    });
    let target: ReturnType<typeof parseAbsoluteUrl>;
    try {
      const refusal = drainingError(context) ?? originFormError(req) ?? checkFraming(req);
      if (refusal) throw refusal;
      target = parseAbsoluteUrl(req.url!);
      exchange.host = target.destination.host;
      exchange.port = target.destination.port;
      const denial = context.policy.checkDestination(target.destination, clientAddress(socket.remoteAddress));
      if (denial) throw ProxyError.fromDenial(denial);
    } catch (error) {
      const failure = asProxyError(error);
      answerResponse(res, failure, context.draining || failure.status === 400);
      exchange.finish({ decision: failure.decision, status: failure.status, error: failure });
      return;
    }
    const agent = this.agent;
    agent.active++;
    res.once('close', () => agent.done());
    const relay = new Relay(context, req, res, exchange);
    setActive(socket, relay);
    relay.start(agent, target);
  }

  private createAgent(): UpstreamAgent {
    return new UpstreamAgent((destination, client) =>
      openUpstream(destination, client, this.context.upstream),
    );
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
