/**
 * What a drill instance's sidecar talks to: the instance metadata service (IMDSv2: a token, then
 * reads; the instance is told apart by its address, as each EC2 instance has its own IMDS) and the
 * four Auto Scaling and ELBv2 calls of the lifecycle, in the query protocol. The drill's group
 * drives it over stdin (instance states, active hooks, target health) and hears every lifecycle
 * call on stdout, one JSON line each. Runs in the load balancer's namespace.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import {
  AUTO_SCALING_XMLNS,
  describeTargetHealth,
  ELB_XMLNS,
  noActiveLifecycleAction,
  queryError,
  queryParams,
  querySuccess,
  readBody,
  writeAnswer,
  type QueryAnswer,
} from './aws-query.js';
import { STAND_IN_READY, type StandInCommand, type StandInEvent, type StandInInstance } from './protocol.js';

const TOKEN = 'drill-imds-token';

const instances = new Map<string, StandInInstance>();
const byAddress = (address: string | undefined): StandInInstance | undefined =>
  [...instances.values()].find((i) => address?.endsWith(i.ip));

const emit = (event: StandInEvent): void => void process.stdout.write(`${JSON.stringify(event)}\n`);

function apply(command: StandInCommand): void {
  if (command.op === 'forget') instances.delete(command.instanceId);
  else instances.set(command.instance.instanceId, command.instance);
}

function metadata(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'PUT' && req.url === '/latest/api/token') {
    res.writeHead(200).end(TOKEN);
    return;
  }
  if (req.headers['x-aws-ec2-metadata-token'] !== TOKEN) {
    res.writeHead(401).end();
    return;
  }
  const instance = byAddress(req.socket.remoteAddress);
  const path = (req.url ?? '').replace('/latest/meta-data/', '');
  const values: Record<string, string | undefined> = {
    'instance-id': instance?.instanceId,
    'placement/region': 'us-east-1',
    'tags/instance/aws:autoscaling:groupName': instance?.groupName,
    'autoscaling/target-lifecycle-state': instance?.targetLifecycleState,
  };
  const value = values[path];
  if (value === undefined) res.writeHead(404).end();
  else res.writeHead(200).end(value);
}

function lifecycleCall(params: Record<string, string>): QueryAnswer {
  const action = params.Action ?? '';
  const instanceId = params.InstanceId ?? params['Targets.member.1.Id'] ?? '';
  const instance = instances.get(instanceId);
  const answer = ((): QueryAnswer => {
    if (!instance) return queryError('ValidationError', `Instance Id not found - ${instanceId}`);
    switch (action) {
      case 'CompleteLifecycleAction':
      case 'RecordLifecycleActionHeartbeat':
        if (instance.activeHook !== params.LifecycleHookName) return noActiveLifecycleAction(instanceId);
        return querySuccess(action, AUTO_SCALING_XMLNS);
      case 'DeregisterTargets':
        return querySuccess(action, ELB_XMLNS);
      case 'DescribeTargetHealth':
        return describeTargetHealth([
          { id: instanceId, port: Number(params['Targets.member.1.Port']), ...instance.targetHealth },
        ]);
      default:
        return queryError('InvalidAction', `${action} is not answered by the drill`);
    }
  })();
  emit({
    action,
    instanceId,
    hook: params.LifecycleHookName,
    result: params.LifecycleActionResult,
    accepted: answer.status === 200,
  });
  return answer;
}

export async function main(args: readonly string[]): Promise<void> {
  const [host, port] = [args[0] ?? '127.0.0.1', Number(args[1] ?? 8100)];
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line.trim()) apply(JSON.parse(line) as StandInCommand);
  });
  process.stdin.on('end', () => process.exit(0));
  const server = createServer((req, res) => {
    if (req.url?.startsWith('/latest/')) {
      metadata(req, res);
      return;
    }
    readBody(req).then(
      (body) => {
        writeAnswer(res, lifecycleCall(queryParams(body)));
      },
      () => res.writeHead(400).end(),
    );
  });
  server.requestTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  process.stdout.write(`${STAND_IN_READY}\n`);
}
