import type { EgressProxyConfig } from '../config/schema.js';
import { createLogger, flushLogger, type Logger } from '../log/logger.js';
import { Policy } from '../policy/policy.js';
import type { WorkerContext } from './context.js';
import { WorkerDrain } from './drain.js';
import { isMessage, type ToPrimary, type ToWorker } from './messages.js';
import { answerMetricsRequests, metrics, observeUpstreamConnect } from './metrics.js';
import { Resolver } from './resolver.js';
import { createProxyServer } from './server.js';
import { leaseBatch, SlotLease } from './slot-lease.js';

/** A worker process: waits for its config from the primary, then serves until drained. */
export function runWorker(): void {
  const send = (message: ToPrimary): void => void process.send?.(message);
  process.on('message', function onFirst(message: unknown) {
    if (!isMessage<ToWorker>(message) || message.type !== 'config') return;
    process.off('message', onFirst);
    serve(message.config, send);
  });
  send({ type: 'ready' });
}

function serve(config: EgressProxyConfig, send: (message: ToPrimary) => void): void {
  const logger = createLogger('proxy', config.log.level, {
    maxBufferBytes: config.log.maxBufferBytes,
    onDrop: () => metrics.logLinesDropped.inc(),
  });
  const context: WorkerContext = {
    config,
    logger,
    slots: new SlotLease(leaseBatch(config), send),
    upstream: {
      resolver: new Resolver(config.dns),
      policy: () => context.policy,
      connectMs: config.timeouts.connectMs,
      onConnected: observeUpstreamConnect,
    },
    policy: new Policy(config),
    draining: false,
    tunnels: new Set(),
    forwardsInFlight: 0,
  };
  metrics.policyInfo.set({ version: context.policy.version }, 1);
  answerMetricsRequests();
  const { server, forwarder } = createProxyServer(context);

  const drain = new WorkerDrain(context, server, () => {
    for (const tunnel of context.tunnels) tunnel.destroy();
    server.closeAllConnections();
    // Let the destroyed tunnels' close handlers write their access-log lines first.
    setImmediate(() => void forwarder.close().finally(() => exit(logger, 0)));
  });

  process.on('message', (message: unknown) => {
    if (!isMessage<ToWorker>(message)) return;
    if (message.type === 'slots-granted') context.slots.granted(message.count, message.urgent);
    else if (message.type === 'slots-reclaim') context.slots.reclaim();
    else if (message.type === 'drain') {
      if (message.stop) drain.stop();
      else drain.start();
    } else if (message.type === 'config') {
      metrics.policyInfo.reset();
      context.policy = new Policy(message.config);
      metrics.policyInfo.set({ version: context.policy.version }, 1);
      logger.level = message.config.log.level;
      forwarder.renewPool();
      logger.info({ policyVersion: context.policy.version }, 'policy reloaded');
    }
  });
  // systemd signals the whole control group; the primary's drain message is the other path in.
  process.on('SIGTERM', () => drain.stop());
  process.on('SIGINT', () => drain.stop());
  process.on('SIGHUP', () => undefined);

  server.once('error', (error) => {
    logger.fatal({ err: error }, 'cannot listen');
    exit(logger, 1);
  });
  server.listen(config.proxy.port, config.proxy.host, () => send({ type: 'listening' }));
}

function exit(logger: Logger, code: number): void {
  flushLogger(logger);
  process.exit(code);
}
