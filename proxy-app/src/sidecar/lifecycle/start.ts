import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { EgressProxyConfig } from '../../config/schema.js';
import type { Logger } from '../../log/logger.js';
import { AwsLifecycleActions } from './actions.js';
import { systemClock } from './clock.js';
import { LifecycleController } from './controller.js';
import { Imds, whenMetadataAnswers } from './imds.js';
import { HttpProxyControl } from './proxy-control.js';

export interface LifecycleHost {
  readonly probe: () => Promise<boolean>;
  readonly markLeaving: () => void;
}

/**
 * Wires the lifecycle controller to instance metadata, the AWS APIs and the local proxy, and runs
 * it in the background. Runs only on EC2 with `lifecycle.enabled`; nothing here gates `/healthcheck`.
 */
export async function runLifecycle(
  config: EgressProxyConfig,
  host: LifecycleHost,
  logger: Logger,
): Promise<void> {
  const settings = config.lifecycle;
  const imds = new Imds(settings.imdsUrl);
  const identity = await whenMetadataAnswers(() => imds.identity(), logger, 'waiting for instance metadata');
  const region = settings.region ?? identity.region;
  logger.info({ ...identity, region }, 'lifecycle: following this instance');
  const clientOptions = { region, maxAttempts: 3 };
  const controller = new LifecycleController({
    targetState: () => imds.targetLifecycleState(),
    probe: host.probe,
    markLeaving: host.markLeaving,
    actions: new AwsLifecycleActions({
      autoScaling: new AutoScalingClient(clientOptions),
      loadBalancing: new ElasticLoadBalancingV2Client(clientOptions),
      instanceId: identity.instanceId,
      groupName: identity.groupName,
      targetPort: config.proxy.port,
      settings,
      clock: systemClock,
      logger,
    }),
    proxy: new HttpProxyControl(`http://${config.metrics.host}:${config.metrics.port}`),
    clock: systemClock,
    logger,
    timing: {
      readySuccesses: settings.readySuccesses,
      launchTimeoutMs: settings.launchTimeoutMs,
      probeIntervalMs: Math.max(config.probe.cacheMs, 1_000),
      heartbeatMs: settings.heartbeatMs,
      pollMs: settings.pollMs,
      targetHealthPollMs: settings.targetHealthPollMs,
      drainMs: config.timeouts.drainMs,
      terminateWaitMs: settings.terminateWaitMs,
    },
  });
  await controller.run();
  logger.info({ phase: controller.phase }, 'lifecycle: done');
}
