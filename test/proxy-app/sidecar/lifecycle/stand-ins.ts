/**
 * Local stand-ins for what an instance talks to: the instance metadata service (IMDSv2 token flow
 * included) and the AWS APIs (moto's server, behind a recorder that also answers the two Auto
 * Scaling calls moto does not implement).
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startMoto } from '../../../support/moto.js';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
  });
}

export interface FakeImds {
  readonly url: string;
  /** What `autoscaling/target-lifecycle-state` answers; change it to drive the lifecycle. */
  targetState: string;
  /** Requests without a valid token (should stay empty). */
  readonly unauthorized: string[];
  tokensIssued: number;
  close(): Promise<void>;
}

export async function startFakeImds(metadata: Record<string, string>): Promise<FakeImds> {
  const token = 'test-imds-token';
  const imds = {
    targetState: 'InService',
    unauthorized: [] as string[],
    tokensIssued: 0,
  };
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.writeHead(400).end();
      imds.tokensIssued++;
      return void res.writeHead(200).end(token);
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== token) {
      imds.unauthorized.push(`${req.method} ${req.url}`);
      return void res.writeHead(401).end();
    }
    const path = req.url!.replace('/latest/meta-data/', '');
    const value = path === 'autoscaling/target-lifecycle-state' ? imds.targetState : metadata[path];
    if (value === undefined) res.writeHead(404).end();
    else res.writeHead(200).end(value);
  });
  const url = await listen(server);
  return Object.assign(imds, {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

export interface RecordedCall {
  readonly action: string;
  readonly params: Record<string, string>;
}

export interface FakeAws {
  /** The endpoint to give the SDK (AWS_ENDPOINT_URL). */
  readonly url: string;
  /** Every API call that came through, in order. */
  readonly calls: RecordedCall[];
  close(): Promise<void>;
}

/** Calls moto_server does not implement; the recorder answers them as the service would. */
const ANSWERED_HERE = new Set(['CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat']);

export async function startFakeAws(motoServer: string): Promise<FakeAws> {
  const moto = await startMoto(motoServer);
  const motoPort = Number(new URL(moto.endpoint).port);
  const calls: RecordedCall[] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const params = Object.fromEntries(new URLSearchParams(body));
    if (params.Action) calls.push({ action: params.Action, params });
    if (params.Action && ANSWERED_HERE.has(params.Action)) {
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        `<${params.Action}Response xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><${params.Action}Result/>` +
          `<ResponseMetadata><RequestId>recorded</RequestId></ResponseMetadata></${params.Action}Response>`,
      );
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: motoPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    upstream.end(body);
  });
  const url = await listen(server);
  return {
    url,
    calls,
    close: async () => {
      await moto.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
