import { loadConfigOrExit } from '../config/cli.js';
import { ConfigError, loadConfigFile } from '../config/index.js';
import { reachableAt } from '../config/parse.js';
import { createLogger, flushLogger } from '../log/logger.js';
import { runLifecycle } from './lifecycle/start.js';
import { SidecarMetrics } from './metrics.js';
import type { PolicyAgent } from './policy/agent.js';
import { ProxyPolicy } from './policy/proxy-policy.js';
import { PolicyReporter } from './policy/report.js';
import { createPolicyAgent, wantsPolicyAgent } from './policy/start.js';
import { Prober } from './probe.js';
import { createSidecarServer, type SidecarState } from './server.js';

const { config, path } = loadConfigOrExit('sidecar');
const logger = createLogger('sidecar', config.log.level);
const metrics = new SidecarMetrics();
const proxyPolicy = new ProxyPolicy(`http://${reachableAt(config.metrics)}`, config.probe.timeoutMs);
let policyAgent: PolicyAgent | undefined;
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
  policy: new PolicyReporter(proxyPolicy, () => policyAgent, config.probe.cacheMs),
  draining: false,
  leaving: false,
};
const server = createSidecarServer(state);

server.once('error', (error) => {
  logger.fatal({ err: error }, 'cannot listen');
  flushLogger(logger);
  process.exit(1);
});
server.listen(config.health.port, config.health.host, () => {
  logger.info({ address: config.health, proxy: config.proxy }, 'sidecar listening');
  if (wantsPolicyAgent(config)) {
    createPolicyAgent(config, proxyPolicy, logger).then(
      (agent) => {
        policyAgent = agent;
        void agent.run();
      },
      (error: Error) =>
        logger.error({ err: error.message }, 'policy agent did not start; the policy in force stays'),
    );
  }
  if (config.lifecycle.enabled) {
    const host = {
      // An instance joins the fleet only once it forwards and, when a policy is deployed
      // separately, runs one: never with the instance config's own (empty) allowlist.
      probe: async () =>
        (await state.prober.check()).ok &&
        (!wantsPolicyAgent(config) || ((await policyAgent?.ready()) ?? false)),
      markLeaving: () => (state.leaving = true),
    };
    runLifecycle(config, host, logger).catch((error: Error) =>
      logger.error({ err: error.message }, 'lifecycle stopped; hooks fall back to their default results'),
    );
  }
});

// systemd's `reload` of the proxy propagates here: only the log level applies to the sidecar; the
// policy version in its answers is always asked of the proxy.
process.on('SIGHUP', () => {
  try {
    logger.level = loadConfigFile(path).log.level;
    logger.info({ level: logger.level }, 'log level reloaded');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    logger.error({ key: error.key, problem: error.message }, 'reload rejected; keeping the log level');
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
