import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DeregisterTargetsCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { LifecycleSettings } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { Clock } from './clock.js';
import { retry } from './retry.js';

export type Hook = 'launch' | 'terminate';
export type HookResult = 'CONTINUE' | 'ABANDON';

/** What the lifecycle asks of AWS. Every call is retried; none of them decides `/healthcheck`. */
export interface LifecycleActions {
  complete(hook: Hook, result: HookResult): Promise<void>;
  heartbeat(): Promise<void>;
  deregister(): Promise<void>;
}

export interface AwsLifecycleActionsOptions {
  readonly autoScaling: AutoScalingClient;
  readonly loadBalancing: ElasticLoadBalancingV2Client;
  readonly instanceId: string;
  readonly groupName: string;
  /** The port the group registered this instance with (the proxy port). */
  readonly targetPort: number;
  readonly settings: LifecycleSettings;
  readonly clock: Clock;
  readonly logger: Logger;
}

/** Attempts per call; with the doubling delay (1 s to 30 s) this spans about three minutes. */
const ATTEMPTS = 9;

/**
 * The instance's own lifecycle calls, scoped by IAM to its own group and target group. The SDK
 * retries throttling and network errors itself; this adds patience for errors that clear with
 * time, such as AccessDenied while a freshly created policy propagates on the first deploy.
 */
export class AwsLifecycleActions implements LifecycleActions {
  constructor(private readonly options: AwsLifecycleActionsOptions) {}

  async complete(hook: Hook, result: HookResult): Promise<void> {
    const { settings, groupName, instanceId } = this.options;
    const name = hook === 'launch' ? settings.launchHookName : settings.terminateHookName;
    try {
      await this.call(`CompleteLifecycleAction ${name} ${result}`, () =>
        this.options.autoScaling.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: groupName,
            LifecycleHookName: name,
            InstanceId: instanceId,
            LifecycleActionResult: result,
          }),
        ),
      );
    } catch (error) {
      // Restarted sidecars on running instances reach here: there is no action to complete.
      if (!isNoActiveAction(error)) throw error;
      this.options.logger.info({ hook: name }, 'no lifecycle action pending for this instance');
    }
  }

  async heartbeat(): Promise<void> {
    const { settings, groupName, instanceId } = this.options;
    await this.call('RecordLifecycleActionHeartbeat', () =>
      this.options.autoScaling.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: groupName,
          LifecycleHookName: settings.terminateHookName,
          InstanceId: instanceId,
        }),
      ),
    );
  }

  async deregister(): Promise<void> {
    const { settings, instanceId, targetPort } = this.options;
    await this.call('DeregisterTargets', () =>
      this.options.loadBalancing.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: settings.targetGroupArn!,
          Targets: [{ Id: instanceId, Port: targetPort }],
        }),
      ),
    );
  }

  private async call(what: string, send: () => Promise<unknown>): Promise<void> {
    const { clock, logger } = this.options;
    await retry(send, {
      clock,
      attempts: ATTEMPTS,
      firstDelayMs: 1_000,
      maxDelayMs: 30_000,
      isFinal: (error) => isNoActiveAction(error) || (error as { name?: string }).name === 'ValidationError',
      onRetry: (error, attempt, delayMs) =>
        logger.warn({ call: what, attempt, delayMs, err: describe(error) }, 'AWS call failed; retrying'),
    });
    logger.info({ call: what }, 'AWS call done');
  }
}

function isNoActiveAction(error: unknown): boolean {
  return /No active Lifecycle Action/i.test((error as Error)?.message ?? '');
}

function describe(error: unknown): { name?: string; message?: string } {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  return { name, message };
}
