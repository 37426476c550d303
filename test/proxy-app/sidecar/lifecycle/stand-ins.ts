/**
 * Local stand-ins for what an instance talks to: the instance metadata service (IMDSv2 token flow
 * included) and the AWS APIs (moto's server, behind a recorder that answers what moto does not
 * model; or a recorder alone, answering as each test scripts it).
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import {
  AUTO_SCALING_ACTIONS,
  AUTO_SCALING_XMLNS,
  describeTargetHealth,
  noActiveLifecycleAction,
  queryParams,
  querySuccess,
  queryError,
  readBody,
  writeAnswer,
  type QueryAnswer,
} from '../../../../drill/servers/aws-query.js';
import { listenOnLoopback } from '../../origins.js';
import { startMoto } from '../../../support/moto.js';

async function listen(server: Server): Promise<string> {
  return `http://127.0.0.1:${await listenOnLoopback(server)}`;
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
  /** The error code answered, if the call was refused here. */
  readonly refused?: string;
}

export interface FakeAws {
  /** The endpoint to give the SDK (AWS_ENDPOINT_URL). */
  readonly url: string;
  /** Every API call that came through, in order. */
  readonly calls: RecordedCall[];
  /**
   * Lifecycle hooks waiting for the instance (Pending:Wait, Terminating:Wait). A completion or
   * heartbeat for any other hook is refused as Auto Scaling does: "No active Lifecycle Action".
   */
  readonly activeHooks: Set<string>;
  /**
   * The target's state as DescribeTargetHealth reports it, e.g. `draining` while the
   * deregistration delay runs (moto drops a deregistered target at once); unset: moto answers.
   */
  targetState: { state: string; reason?: string } | undefined;
  close(): Promise<void>;
}

/**
 * moto_server behind a recorder that answers, as the services do, what moto does not model: the
 * lifecycle hook calls, and a target in its deregistration delay.
 */
export async function startFakeAws(motoServer: string): Promise<FakeAws> {
  const moto = await startMoto(motoServer);
  const motoPort = Number(new URL(moto.endpoint).port);
  const calls: RecordedCall[] = [];
  const fake = { activeHooks: new Set<string>(), targetState: undefined as FakeAws['targetState'] };
  const answerHere = (params: Record<string, string>): QueryAnswer | undefined => {
    const action = params.Action ?? '';
    if (AUTO_SCALING_ACTIONS.has(action)) {
      const hook = params.LifecycleHookName ?? '';
      if (!fake.activeHooks.has(hook)) return noActiveLifecycleAction(params.InstanceId ?? '');
      if (action === 'CompleteLifecycleAction') fake.activeHooks.delete(hook);
      return querySuccess(action, AUTO_SCALING_XMLNS);
    }
    if (action === 'DescribeTargetHealth' && fake.targetState) {
      return describeTargetHealth([
        {
          id: params['Targets.member.1.Id'] ?? '',
          port: Number(params['Targets.member.1.Port']),
          ...fake.targetState,
        },
      ]);
    }
    return undefined;
  };
  const server = createServer(async (req, res) => {
    const body = await readBody(req).catch(() => undefined);
    if (body === undefined) return void res.destroy();
    const params = queryParams(body);
    const answer = answerHere(params);
    if (params.Action) {
      const refused = answer && answer.status !== 200 ? /<Code>(\w+)</.exec(answer.body)?.[1] : undefined;
      calls.push({ action: params.Action, params, ...(refused ? { refused } : {}) });
    }
    if (answer) return void writeAnswer(res, answer);
    const upstream = httpRequest(
      { host: '127.0.0.1', port: motoPort, method: req.method, path: req.url, headers: req.headers },
      (reply) => {
        res.writeHead(reply.statusCode!, reply.headers);
        reply.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    upstream.end(body);
  });
  const url = await listen(server);
  return Object.assign(fake, {
    url,
    calls,
    close: async () => {
      await moto.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

export interface QueryCall {
  readonly action: string;
  /** The request's other form fields: `Version` and the call's parameters. */
  readonly params: Record<string, string>;
}

export interface ScriptedAws {
  /** The endpoint to give the SDK clients. */
  readonly url: string;
  /** Every call that came through, in order. */
  readonly calls: QueryCall[];
  /** The parameters of each call of `action`, in order. */
  paramsOf(action: string): Record<string, string>[];
  /** Answers the next calls of `action` with `answers` in turn, and every later one with the last. */
  script(action: string, ...answers: [QueryAnswer, ...QueryAnswer[]]): void;
  close(): Promise<void>;
}

/** Auto Scaling and ELBv2 in the query protocol, as scripted per action; an unscripted action is refused. */
export async function startScriptedAws(): Promise<ScriptedAws> {
  const calls: QueryCall[] = [];
  const scripts = new Map<string, QueryAnswer[]>();
  const answer = (action: string): QueryAnswer => {
    const answers = scripts.get(action);
    if (!answers) return queryError('InvalidAction', `${action} is not scripted`);
    return answers.length > 1 ? answers.shift()! : answers[0]!;
  };
  const server = createServer(async (req, res) => {
    const body = await readBody(req).catch(() => undefined);
    if (body === undefined) return void res.destroy();
    const { Action: action = '', ...params } = queryParams(body);
    calls.push({ action, params });
    writeAnswer(res, answer(action));
  });
  const url = await listen(server);
  return {
    url,
    calls,
    paramsOf: (action) => calls.filter((call) => call.action === action).map((call) => call.params),
    script: (action, ...answers) => void scripts.set(action, answers),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
