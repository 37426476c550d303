/**
 * The drill's side of the AWS stand-in (drill/servers/aws-stand-in.ts): the instance metadata and
 * the lifecycle APIs the instances' sidecars call, run in the load balancer's namespace. The group
 * tells it each instance's state and hears every lifecycle call.
 */
import { waitFor } from './exec.js';
import { LB_IP, NS } from './network.js';
import type { NsProcess } from './processes.js';
import { spawnScript } from './scripts.js';
import {
  STAND_IN_READY,
  type StandInCommand,
  type StandInEvent,
  type StandInInstance,
} from './servers/protocol.js';

const PORT = 8100;
/** Events kept for waiters; far more than a run produces. */
const MAX_EVENTS = 20_000;

export class AwsStandIn {
  /** IMDS and both APIs on one address (imdsUrl, AWS_ENDPOINT_URL_*). */
  static readonly URL = `http://${LB_IP}:${PORT}`;
  /** The group name the instances read from their metadata tags. */
  static readonly GROUP_NAME = 'epd-drill-group';
  /** Stands in for the target group's ARN in the instances' config. */
  static readonly TARGET_GROUP_ARN =
    'arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/epd-drill/0000000000000000';

  readonly events: StandInEvent[] = [];
  private readonly instances = new Map<string, StandInInstance>();

  private constructor(readonly process: NsProcess) {
    process.onLine((line) => {
      if (!line.startsWith('{') || this.events.length >= MAX_EVENTS) return;
      this.events.push(JSON.parse(line) as StandInEvent);
    });
  }

  static async start(): Promise<AwsStandIn> {
    const proc = spawnScript('aws stand-in', NS.lb, 'aws-stand-in', [LB_IP, String(PORT)], { stdin: true });
    const standIn = new AwsStandIn(proc);
    await proc.waitForLine(STAND_IN_READY, 10_000);
    return standIn;
  }

  /** Creates or changes an instance as metadata and the APIs see it. */
  update(instanceId: string, change: Partial<StandInInstance>): void {
    const current = this.instances.get(instanceId);
    const instance = { ...current, ...change } as StandInInstance;
    this.instances.set(instanceId, instance);
    this.send({ op: 'set', instance });
  }

  forget(instanceId: string): void {
    this.instances.delete(instanceId);
    this.send({ op: 'forget', instanceId });
  }

  /** The first event from `since` on that matches, or undefined after `timeoutMs`. */
  waitForEvent(
    since: number,
    match: (event: StandInEvent) => boolean,
    timeoutMs: number,
  ): Promise<StandInEvent | undefined> {
    return waitFor(() => this.events.slice(since).find(match), timeoutMs, 50);
  }

  private send(command: StandInCommand): void {
    this.process.write(`${JSON.stringify(command)}\n`);
  }
}
