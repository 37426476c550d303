import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DeregisterTargetsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { LifecycleSettings } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import type { Clock } from './clock.js';
import { retry } from './retry.js';

export type Hook = 'launch' | 'terminate';
export type HookResult = 'CONTINUE' | 'ABANDON';
/** `no-active-action`: the hook is not (or no longer) waiting for this instance. */
export type Completion = 'completed' | 'no-active-action';
/**
 * This instance as a target of its target group. `deregistering`: the deregistration delay runs
 * (state `draining`); `not-registered`: state `unused` with `Target.NotRegistered`, or the target
 * unknown to the group; `registered`: any other state.
 */
export type TargetState = 'registered' | 'deregistering' | 'not-registered';

/** What the lifecycle asks of AWS. None of it decides `/healthcheck`. */
export interface LifecycleActions {
  complete(hook: Hook, result: HookResult): Promise<Completion>;
  /** Restarts the terminating hook's timeout; false while no action is active (nothing to do). */
  heartbeat(): Promise<boolean>;
  deregister(): Promise<void>;
  targetState(): Promise<TargetState>;
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

/**
 * Attempts of a hook completion; with the doubling delay (1 s to 30 s) this spans about three
 * minutes, for errors that clear with time (AccessDenied while a new policy propagates).
 */
const COMPLETE_ATTEMPTS = 9;
/** Deregistration is also done by Auto Scaling itself; a short retry is enough. */
const DEREGISTER_ATTEMPTS = 3;

/**
 * The instance's own lifecycle calls, scoped by IAM to its own group and target group (reads of
 * target health cannot be scoped: see lib/lifecycle-hooks.ts). The SDK retries throttling and
 * network errors itself.
 */
export class AwsLifecycleActions implements LifecycleActions {
  constructor(private readonly options: AwsLifecycleActionsOptions) {}

  async complete(hook: Hook, result: HookResult): Promise<Completion> {
    const { settings, groupName, instanceId } = this.options;
    const name = hook === 'launch' ? settings.launchHookName : settings.terminateHookName;
    const what = `CompleteLifecycleAction ${name} ${result}`;
    try {
      await this.call(what, COMPLETE_ATTEMPTS, () =>
        this.options.autoScaling.send(
          new CompleteLifecycleActionCommand({
            AutoScalingGroupName: groupName,
            LifecycleHookName: name,
            InstanceId: instanceId,
            LifecycleActionResult: result,
          }),
        ),
      );
      return 'completed';
    } catch (error) {
      if (!isNoActiveAction(error)) throw error;
      this.options.logger.info({ call: what }, 'no lifecycle action active for this instance');
      return 'no-active-action';
    }
  }

  async heartbeat(): Promise<boolean> {
    const { settings, groupName, instanceId } = this.options;
    try {
      await this.call('RecordLifecycleActionHeartbeat', 1, () =>
        this.options.autoScaling.send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: groupName,
            LifecycleHookName: settings.terminateHookName,
            InstanceId: instanceId,
          }),
        ),
      );
      return true;
    } catch (error) {
      if (isNoActiveAction(error)) return false;
      throw error;
    }
  }

  async deregister(): Promise<void> {
    const { settings, instanceId, targetPort } = this.options;
    await this.call('DeregisterTargets', DEREGISTER_ATTEMPTS, () =>
      this.options.loadBalancing.send(
        new DeregisterTargetsCommand({
          TargetGroupArn: settings.targetGroupArn!,
          Targets: [{ Id: instanceId, Port: targetPort }],
        }),
      ),
    );
  }

  async targetState(): Promise<TargetState> {
    const { settings, instanceId, targetPort } = this.options;
    try {
      const answer = await this.options.loadBalancing.send(
        new DescribeTargetHealthCommand({
          TargetGroupArn: settings.targetGroupArn!,
          Targets: [{ Id: instanceId, Port: targetPort }],
        }),
      );
      const health = answer.TargetHealthDescriptions?.[0]?.TargetHealth;
      // TargetHealth API reference: `draining` with Target.DeregistrationInProgress while the
      // deregistration delay runs; `unused` with Target.NotRegistered once it is over.
      if (health?.State === 'draining') return 'deregistering';
      if (!health || (health.State === 'unused' && health.Reason === 'Target.NotRegistered')) {
        return 'not-registered';
      }
      return 'registered';
    } catch (error) {
      // "The specified target does not exist" (DescribeTargetHealth errors): not a target.
      if ((error as { name?: string }).name === 'InvalidTargetException') return 'not-registered';
      throw error;
    }
  }

  private async call(what: string, attempts: number, send: () => Promise<unknown>): Promise<void> {
    const { clock, logger } = this.options;
    await retry(send, {
      clock,
      attempts,
      firstDelayMs: 1_000,
      maxDelayMs: 30_000,
      isFinal: (error) => isNoActiveAction(error) || (error as { name?: string }).name === 'ValidationError',
      onRetry: (error, attempt, delayMs) =>
        logger.warn({ call: what, attempt, delayMs, err: describe(error) }, 'AWS call failed; retrying'),
    });
    logger.info({ call: what }, 'AWS call done');
  }
}

/** Auto Scaling's answer when no hook waits for this instance (`ValidationError`). */
export function isNoActiveAction(error: unknown): boolean {
  return /No active Lifecycle Action/i.test((error as Error)?.message ?? '');
}

function describe(error: unknown): { name?: string; message?: string } {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  return { name, message };
}
