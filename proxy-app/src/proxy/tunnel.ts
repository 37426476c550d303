import type { Socket } from 'node:net';
import { clientAddress } from '../policy/policy.js';
import { parseAuthority } from '../policy/destination.js';
import { answerSocket } from './answer.js';
import { drainingError, type WorkerContext } from './context.js';
import { asProxyError, ProxyError } from './errors.js';
import { CLIENT_CLOSED_REQUEST, Exchange } from './exchange.js';
import { counts } from './metrics.js';
import { openUpstream } from './upstream.js';
import { splice } from './splice.js';
import { UpstreamReader } from './upstream-reader.js';

const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/**
 * Handles `CONNECT target` once earlier exchanges on the connection are complete (`refusal`: what
 * reading the head found wrong with it): check policy, open upstream, then relay bytes both ways. Until the tunnel is up, the client socket's
 * deadline is the server's idle timeout (its 'timeout' listener is set where the server hands the
 * socket over) and the upstream's is `connectMs`; a refusal closes lingeringly.
 */
export async function handleConnect(
  context: WorkerContext,
  client: Socket,
  target: string,
  head: Buffer,
  refusal: ProxyError | null,
): Promise<void> {
  const exchange = new Exchange(context.logger, 'tunnel', client.remoteAddress ?? '', 'CONNECT');
  const reader = new UpstreamReader();
  let upstream: Socket;
  try {
    const refused = drainingError(context) ?? refusal;
    if (refused) throw refused;
    const destination = parseAuthority(target);
    exchange.host = destination.host;
    exchange.port = destination.port;
    const denial = context.policy.checkDestination(destination, clientAddress(client.remoteAddress));
    if (denial) throw ProxyError.fromDenial(denial);
    upstream = await openUpstream(destination, client.remoteAddress ?? '', context.upstream, reader.onread);
  } catch (error) {
    const failure = asProxyError(error);
    if (client.destroyed) {
      exchange.finish({ decision: 'aborted', status: CLIENT_CLOSED_REQUEST });
      return;
    }
    answerSocket(client, failure);
    exchange.finish({ decision: failure.decision, status: failure.status, error: failure });
    return;
  }
  if (client.destroyed) {
    upstream.destroy();
    exchange.finish({ decision: 'aborted', status: CLIENT_CLOSED_REQUEST });
    return;
  }
  client.removeAllListeners('error');
  client.removeAllListeners('timeout');
  counts.openTunnels++;
  client.write(ESTABLISHED);
  const relay = splice(
    client,
    upstream,
    reader,
    head,
    context.config.timeouts.idleMs,
    (bytesUp, bytesDown) => {
      context.tunnels.delete(relay);
      counts.openTunnels--;
      exchange.finish({ decision: 'allowed', status: 200, bytesUp, bytesDown });
    },
  );
  context.tunnels.add(relay);
}
