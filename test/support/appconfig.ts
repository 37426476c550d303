/**
 * A local stand-in for AWS AppConfig, for the tests and the fleet drill (moto 5 implements no
 * AppConfig data plane and no deployments). It speaks the SDK's REST protocol for the three calls
 * the product makes:
 * - appconfigdata StartConfigurationSession (POST /configurationsessions) and GetLatestConfiguration
 *   (GET /configuration?configuration_token=...): single-use tokens, the full document on a
 *   session's first call and whenever the deployed version changed, an empty body otherwise;
 * - appconfig ListDeployments (GET /applications/{app}/environments/{env}/deployments), for
 *   `fleet status`.
 * `deploy()` plays a completed deployment; `stop()`/`start()` make the endpoint unreachable and
 * reachable again on the same port.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface AppConfigIds {
  readonly application: string;
  readonly environment: string;
  readonly profile: string;
}

export interface Deployment {
  readonly number: number;
  readonly content: string;
  readonly label: string;
  state: 'DEPLOYING' | 'BAKING' | 'COMPLETE' | 'ROLLED_BACK';
  readonly startedAt: Date;
}

export interface AppConfigStandIn {
  /** For AWS_ENDPOINT_URL_APPCONFIGDATA / AWS_ENDPOINT_URL_APPCONFIG. */
  readonly url: string;
  readonly ids: AppConfigIds;
  readonly deployments: Deployment[];
  /** Every StartConfigurationSession body, in order. */
  readonly sessions: Record<string, unknown>[];
  /** GetLatestConfiguration calls answered (with or without content). */
  polls: number;
  /** What GetLatestConfiguration answers in Next-Poll-Interval-In-Seconds. */
  pollSeconds: number;
  /** Makes `content` (labelled `label`) the deployed configuration, as a completed deployment. */
  deploy(content: string, label?: string): Deployment;
  /** Stops listening and drops open connections: calls fail with ECONNREFUSED. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_APPCONFIG_IDS: AppConfigIds = {
  application: 'app1234',
  environment: 'env1234',
  profile: 'prof123',
};

export async function startAppConfigStandIn(
  options: { ids?: AppConfigIds; pollSeconds?: number; host?: string; port?: number } = {},
): Promise<AppConfigStandIn> {
  const host = options.host ?? '127.0.0.1';
  const ids = options.ids ?? DEFAULT_APPCONFIG_IDS;
  /** Live tokens: each maps to its session's id and the deployment number it has seen. */
  const tokens = new Map<string, { session: string; seen: number }>();
  const sockets = new Set<Socket>();

  const current = (): Deployment | undefined =>
    [...stand.deployments].reverse().find((deployment) => deployment.state !== 'ROLLED_BACK');
  const issue = (session: string, seen: number): string => {
    const token = randomUUID();
    tokens.set(token, { session, seen });
    return token;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://appconfig');
    if (req.method === 'POST' && url.pathname === '/configurationsessions') {
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      stand.sessions.push(body);
      if (
        body.ApplicationIdentifier !== ids.application ||
        body.EnvironmentIdentifier !== ids.environment ||
        body.ConfigurationProfileIdentifier !== ids.profile
      ) {
        return error(res, 404, 'ResourceNotFoundException', 'no such application, environment or profile');
      }
      return json(res, 201, { InitialConfigurationToken: issue(randomUUID(), 0) });
    }
    if (req.method === 'GET' && url.pathname === '/configuration') {
      const token = url.searchParams.get('configuration_token') ?? '';
      const state = tokens.get(token);
      if (!state) return error(res, 400, 'BadRequestException', 'the token is unknown, used or expired');
      tokens.delete(token);
      stand.polls++;
      const deployment = current();
      const fresh = deployment !== undefined && deployment.number !== state.seen;
      const headers: Record<string, string> = {
        'next-poll-configuration-token': issue(state.session, deployment?.number ?? 0),
        'next-poll-interval-in-seconds': String(stand.pollSeconds),
        'content-type': 'application/json',
      };
      if (fresh) headers['version-label'] = deployment.label;
      res.writeHead(200, headers).end(fresh ? deployment.content : '');
      return;
    }
    const list = /^\/applications\/([^/]+)\/environments\/([^/]+)\/deployments$/.exec(url.pathname);
    if (req.method === 'GET' && list) {
      if (list[1] !== ids.application || list[2] !== ids.environment) {
        return error(res, 404, 'ResourceNotFoundException', 'no such application or environment');
      }
      return json(res, 200, {
        Items: [...stand.deployments].reverse().map((deployment) => ({
          DeploymentNumber: deployment.number,
          ConfigurationProfileId: ids.profile,
          ConfigurationName: 'policy',
          ConfigurationVersion: String(deployment.number),
          VersionLabel: deployment.label,
          State: deployment.state,
          PercentageComplete: deployment.state === 'DEPLOYING' ? 50 : 100,
          // AppConfig's model gives these timestamps the date-time format.
          StartedAt: deployment.startedAt.toISOString(),
        })),
      });
    }
    return error(res, 404, 'UnknownOperationException', `${req.method} ${url.pathname}`);
  };

  let server: Server;
  const listen = async (port: number): Promise<number> => {
    server = createServer((req, res) => {
      handle(req, res).catch((failure: Error) => error(res, 500, 'InternalServerException', failure.message));
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    return (server.address() as AddressInfo).port;
  };
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  const port = await listen(options.port ?? 0);
  const stand: AppConfigStandIn = {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    ids,
    deployments: [],
    sessions: [],
    polls: 0,
    pollSeconds: options.pollSeconds ?? 1,
    deploy(content, label = `v${stand.deployments.length + 1}`) {
      const deployment: Deployment = {
        number: stand.deployments.length + 1,
        content,
        label,
        state: 'COMPLETE',
        startedAt: new Date(),
      };
      stand.deployments.push(deployment);
      return deployment;
    },
    stop: stopListening,
    async start() {
      if (!server.listening) await listen(port);
    },
    close: stopListening,
  };
  return stand;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body || '{}'));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function error(res: ServerResponse, status: number, type: string, message: string): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type })
    .end(JSON.stringify({ Message: message }));
}
