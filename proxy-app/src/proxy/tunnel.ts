import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { clientAddress } from '../policy/policy.js';
import { parseAuthority } from '../policy/destination.js';
import { answerSocket } from './answer.js';
import type { WorkerContext } from './context.js';
import { asProxyError, ProxyError } from './errors.js';
import { Exchange } from './exchange.js';
import { checkFraming } from './framing.js';
import { metrics } from './metrics.js';
import { openUpstream } from './upstream.js';
import { admissionError } from './admission.js';
import { splice } from './splice.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/** Handles `CONNECT host:port`: admit, check policy, open upstream, then relay bytes both ways. */
export async function handleConnect(
  context: WorkerContext,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
): Promise<void> {
  const exchange = new Exchange(context.logger, 'tunnel', client.remoteAddress ?? '', 'CONNECT');
  // Until the splice owns it, a client reset must not become an unhandled 'error'.
  client.on('error', () => client.destroy());
  let upstream: Socket;
  try {
    const refusal = admissionError(context, client) ?? checkFraming(req);
    if (refusal) throw refusal;
    const destination = parseAuthority(req.url ?? '');
    exchange.host = destination.host;
    exchange.port = destination.port;
    const denial = context.policy.checkDestination(destination, clientAddress(client.remoteAddress));
    if (denial) throw ProxyError.fromDenial(denial);
    upstream = await openUpstream(destination, context.upstream);
  } catch (error) {
    const failure = asProxyError(error);
    answerSocket(client, failure);
    exchange.finish({ decision: failure.decision, status: failure.status, error: failure });
    return;
  }
  if (client.destroyed) {
    upstream.destroy();
    exchange.finish({ decision: 'allowed', status: 200 });
    return;
  }
  client.removeAllListeners('error');
  metrics.openTunnels.inc();
  client.write(ESTABLISHED);
  const relay = splice(client, upstream, head, context.config.timeouts.idleMs, (bytesUp, bytesDown) => {
    context.tunnels.delete(relay);
    metrics.openTunnels.dec();
    exchange.finish({ decision: 'allowed', status: 200, bytesUp, bytesDown });
  });
  context.tunnels.add(relay);
}
