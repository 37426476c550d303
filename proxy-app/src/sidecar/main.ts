import { loadConfigOrExit } from '../config/cli.js';
import { ConfigError, loadConfigFile, type EgressProxyConfig } from '../config/index.js';
import { reachableAt } from '../config/parse.js';
import { createLogger, flushLogger } from '../log/logger.js';
import { policyVersion } from '../policy/version.js';
import { runLifecycle } from './lifecycle/start.js';
import { SidecarMetrics } from './metrics.js';
import { Prober } from './probe.js';
import { createSidecarServer, type SidecarState } from './server.js';

const { config, path } = loadConfigOrExit('sidecar');
const logger = createLogger('sidecar', config.log.level);
const metrics = new SidecarMetrics();
const state: SidecarState = {
  prober: new Prober({
    proxyUrl: `http://${reachableAt(config.proxy)}`,
    targetOrigin: `http://${reachableAt(config.health)}`,
    timeoutMs: config.probe.timeoutMs,
    cacheMs: config.probe.cacheMs,
    onResult: (result) => metrics.record(result),
  }),
  logger,
  metrics,
  policyVersion: policyVersion(config),
  draining: false,
};
const server = createSidecarServer(state);

server.once('error', (error) => {
  logger.fatal({ err: error }, 'cannot listen');
  flushLogger(logger);
  process.exit(1);
});
server.listen(config.health.port, config.health.host, () => {
  logger.info(
    { address: config.health, proxy: config.proxy, policyVersion: state.policyVersion },
    'sidecar listening',
  );
  if (config.lifecycle.enabled) {
    const host = {
      probe: async () => (await state.prober.check()).ok,
      startDraining: () => (state.draining = true),
    };
    runLifecycle(config, host, logger).catch((error: Error) =>
      logger.error({ err: error.message }, 'lifecycle stopped; hooks fall back to their default results'),
    );
  }
});

// Reloaded alongside the proxy (systemd PropagatesReloadTo), so the reported version follows it.
process.on('SIGHUP', () => {
  try {
    const next: EgressProxyConfig = loadConfigFile(path);
    state.policyVersion = policyVersion(next);
    logger.level = next.log.level;
    logger.info({ policyVersion: state.policyVersion }, 'policy version reloaded');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logger.error({ key: error.key, problem: error.message }, 'reload rejected; keeping the policy version');
  }
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections();
    logger.info({ signal }, 'sidecar stopped');
    flushLogger(logger);
    process.exit(0);
  });
}
