import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { clientAddress } from '../policy/policy.js';
import { isLoopback } from '../policy/special-ranges.js';
import type { Logger } from '../log/logger.js';
import type { SidecarMetrics } from './metrics.js';
import type { PolicyReporter } from './policy/report.js';
import type { Prober, ProbeResult } from './probe.js';

export interface SidecarState {
  readonly prober: Prober;
  readonly logger: Logger;
  /** Served on `/metrics` to clients on this host only (the CloudWatch agent scrapes it). */
  readonly metrics: SidecarMetrics;
  /** The policy in force, asked of the proxy: in every answer so a rollout can be followed per instance. */
  readonly policy: PolicyReporter;
  /** While set, `/healthcheck` answers 503 `draining` so the load balancer moves traffic away. */
  draining: boolean;
  /**
   * Set by the lifecycle once the instance leaves the fleet (deregistered, or about to be): the
   * proxy drains and refuses new requests, so probing it would fail. `/healthcheck` answers 200
   * `leaving` instead: whether the load balancer keeps checking a draining target and resets the
   * flows of one it finds unhealthy is not documented, and a leaving instance must not lose its
   * draining tunnels that way.
   */
  leaving: boolean;
}

const NONCE = /^[0-9a-f]{1,64}$/;

/**
 * The sidecar's HTTP endpoints: `/healthcheck` (the load balancer's target), `/target` (what
 * probes fetch through the proxy), `/livez` (this process), and, from this host only, `/drain`
 * and `/metrics`.
 */
export function createSidecarServer(state: SidecarState): Server {
  let lastOk: boolean | undefined;
  const logTransition = (result: ProbeResult): void => {
    if (result.ok === lastOk) return;
    lastOk = result.ok;
    if (result.ok) state.logger.info({ modes: result.modes }, 'proxy healthy');
    else state.logger.warn({ modes: result.modes }, 'proxy failing');
  };

  const server = createServer(
    { headersTimeout: 5_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      const url = URL.parse(req.url ?? '/', 'http://sidecar');
      if (url === null) {
        json(res, 400, { error: 'unreadable request target' });
        return;
      }
      switch (url.pathname) {
        case '/healthcheck':
          if (!allowMethods(req, res, ['GET', 'HEAD'])) return;
          if (state.draining) {
            void state.policy.report().then((policy) => json(res, 503, { status: 'draining', ...policy }));
            return;
          }
          if (state.leaving) {
            void state.policy.report().then((policy) => json(res, 200, { status: 'leaving', ...policy }));
            return;
          }
          void Promise.all([state.prober.check(), state.policy.report()]).then(([result, policy]) => {
            logTransition(result);
            json(res, result.ok ? 200 : 503, { status: result.ok ? 'ok' : 'failing', ...policy, ...result });
          });
          return;
        case '/target': {
          if (!allowMethods(req, res, ['GET'])) return;
          const nonce = url.searchParams.get('nonce') ?? '';
          if (!NONCE.test(nonce)) json(res, 400, { error: 'nonce must be 1-64 hex digits' });
          else res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(nonce);
          return;
        }
        case '/livez':
          if (allowMethods(req, res, ['GET', 'HEAD']))
            void state.policy.report().then((policy) => json(res, 200, { status: 'alive', ...policy }));
          return;
        case '/drain':
          if (!allowMethods(req, res, ['POST', 'DELETE'])) return;
          if (!fromThisHost(req, res)) return;
          state.draining = req.method === 'POST';
          state.logger.info(
            { draining: state.draining },
            state.draining ? 'draining: health checks now fail' : 'drain cancelled',
          );
          json(res, 200, { status: state.draining ? 'draining' : 'serving' });
          return;
        case '/metrics':
          if (!allowMethods(req, res, ['GET']) || !fromThisHost(req, res)) return;
          state.metrics.text().then(
            (text) => res.writeHead(200, { 'content-type': state.metrics.registry.contentType }).end(text),
            (error: Error) => json(res, 500, { error: error.message }),
          );
          return;
        default:
          json(res, 404, { error: `no endpoint ${url.pathname}` });
      }
    },
  );
  server.on('clientError', (_error, socket) => socket.destroy());
  return server;
}

function allowMethods(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): boolean {
  if (methods.includes(req.method ?? '')) return true;
  res.setHeader('allow', methods.join(', '));
  json(res, 405, { error: `use ${methods.join(' or ')}` });
  return false;
}

/** Whether the client is on this host (loopback); answers 403 if not. */
function fromThisHost(req: IncomingMessage, res: ServerResponse): boolean {
  if (isLoopback(clientAddress(req.socket.remoteAddress) ?? new Uint8Array())) return true;
  json(res, 403, {
    error: `${new URL(req.url ?? '/', 'http://sidecar').pathname} is accepted only from this host`,
  });
  return false;
}

function json(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}
