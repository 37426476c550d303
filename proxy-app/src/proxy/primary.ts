import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { ConfigError, loadProxyConfig } from '../config/index.js';
import type { EgressProxyConfig } from '../config/schema.js';
import { flushLogger, type Logger } from '../log/logger.js';
import { policyVersion } from '../policy/version.js';
import { isMessage, type ToPrimary, type ToWorker } from './messages.js';
import { SlotPool } from './slot-pool.js';
import { workerCount } from './slot-lease.js';

const RESPAWN_DELAY_MS = 1_000;
/** After the drain deadline, workers get this long to exit before they are killed. */
const KILL_GRACE_MS = 5_000;
const RELOADABLE = new Set(['allow', 'allowPorts', 'allowCidrs', 'log']);

/**
 * The primary process: one worker per core sharing the listening socket, the pool of connection
 * slots they lease from, the control endpoint, SIGHUP reloads, the drain (`POST /drain`, see
 * `WorkerDrain`) and the stop (SIGTERM: drain, stop accepting, exit once drained).
 */
export function runPrimary(initial: EgressProxyConfig, configFile: string, logger: Logger): void {
  let config = initial;
  let draining = false;
  let stopping = false;
  let started = false;
  const size = workerCount(config);

  const send = (worker: Worker, message: ToWorker): void => {
    if (worker.isConnected()) worker.send(message);
  };
  const broadcast = (message: ToWorker): void => {
    for (const worker of Object.values(cluster.workers ?? {})) if (worker) send(worker, message);
  };
  const slots = new SlotPool(config.limits.maxConnections, (id, message) => {
    const worker = cluster.workers?.[id];
    if (!worker?.isConnected()) return false;
    worker.send(message);
    return true;
  });
  const fork = (): void => void cluster.fork();
  /**
   * A worker gets its config once it says it listens for it: Node's 'online' comes before the
   * worker's code has run, and a worker whose code loads asynchronously (an `--import` preload)
   * would miss a config sent then and never start. A worker forked during a drain drains too, and
   * stops if the primary is stopping: a drain broadcast before it was ready never reached it.
   */
  const configure = (worker: Worker): void => {
    send(worker, { type: 'config', config });
    if (draining) send(worker, { type: 'drain', stop: stopping });
  };

  let listening = 0;
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<ToPrimary>(message)) return;
    if (message.type === 'ready') configure(worker);
    else if (message.type === 'slots-wanted') slots.wanted(worker.id, message.count, message.urgent);
    else if (message.type === 'slots-returned') slots.returned(worker.id, message.count, message.reclaimed);
    else if (message.type === 'listening' && !started && ++listening === size) {
      started = true;
      logger.info(
        { address: config.proxy, workers: size, policyVersion: policyVersion(config) },
        'proxy listening',
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    slots.forget(worker.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) finish(0);
      return;
    }
    if (!started) {
      logger.fatal({ code, signal }, 'a worker failed to start; exiting');
      finish(1);
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, 'worker exited; starting a replacement');
    setTimeout(fork, RESPAWN_DELAY_MS).unref();
  });

  /** Re-reads the config and its policy file and hands the policy to every worker. */
  const reload = (): ReloadResult => {
    try {
      const next = loadProxyConfig(configFile);
      const needRestart = Object.keys(next).filter(
        (key) =>
          !RELOADABLE.has(key) &&
          JSON.stringify(next[key as keyof EgressProxyConfig]) !==
            JSON.stringify(config[key as keyof EgressProxyConfig]),
      );
      if (needRestart.length) logger.warn({ keys: needRestart }, 'these settings change only on restart');
      config = {
        ...config,
        allow: next.allow,
        allowPorts: next.allowPorts,
        allowCidrs: next.allowCidrs,
        log: next.log,
      };
      broadcast({ type: 'config', config });
      logger.info({ policyVersion: policyVersion(config) }, 'policy reloaded');
      return { ok: true, policyVersion: policyVersion(config) };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      logger.error(
        { key: error.key, problem: error.message, policyVersion: policyVersion(config) },
        'reload rejected; keeping the policy in force',
      );
      return { ok: false, code: error.code, key: error.key, problem: error.message };
    }
  };
  const metricsServer = serveMetrics(config, logger, { drain: () => drain(), reload });

  process.on('SIGHUP', reload);

  const drain = (): void => {
    if (draining || stopping) return;
    draining = true;
    logger.info({ drainMs: config.timeouts.drainMs, drainIdleMs: config.timeouts.drainIdleMs }, 'draining');
    broadcast({ type: 'drain', stop: false });
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    draining = true;
    logger.info({ drainMs: config.timeouts.drainMs }, 'stopping: draining, then exiting');
    broadcast({ type: 'drain', stop: true });
    setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
      finish(0);
    }, config.timeouts.drainMs + KILL_GRACE_MS).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) finish(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  function finish(code: number): void {
    metricsServer.close();
    logger.info({ code }, 'proxy stopped');
    flushLogger(logger);
    process.exit(code);
  }

  // Workers accept connections themselves. In round-robin mode the primary accepts every
  // connection and passes it over IPC: about 100 µs of CPU and a handle's memory per connection.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < size; i++) fork();
}

/** What a reload did: the policy version now handed to the workers, or why the files were refused. */
type ReloadResult =
  | { readonly ok: true; readonly policyVersion: string }
  | { readonly ok: false; readonly code: string; readonly key: string; readonly problem: string };

interface ControlActions {
  readonly drain: () => void;
  readonly reload: () => ReloadResult;
}

/**
 * The loopback control endpoint: `GET /metrics` (Prometheus text, summed across workers),
 * `POST /drain` (starts the drain without stopping: the sidecar's termination lifecycle calls it
 * when the load balancer deregisters this instance) and `POST /reload` (the same reload as SIGHUP,
 * with its result in the answer). The sidecar runs as the same unprivileged user in another
 * systemd unit: it can neither stop nor reload a unit, nor find the primary's pid reliably, so it
 * uses these.
 */
function serveMetrics(
  config: EgressProxyConfig,
  logger: Logger,
  actions: ControlActions,
): ReturnType<typeof createServer> {
  const registry = new AggregatorRegistry();
  const server = createServer((req, res) => {
    if (req.url === '/drain' && req.method === 'POST') {
      logger.info('drain requested on the control endpoint');
      res.writeHead(202).end();
      actions.drain();
      return;
    }
    if (req.url === '/reload' && req.method === 'POST') {
      const result = actions.reload();
      res
        .writeHead(result.ok ? 200 : 422, { 'content-type': 'application/json' })
        .end(`${JSON.stringify(result)}\n`);
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.clusterMetrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: Error) => res.writeHead(500).end(`${error.message}\n`),
    );
  });
  server.on('error', (error) => logger.error({ err: error }, 'metrics endpoint unavailable'));
  server.listen(config.metrics.port, config.metrics.host);
  return server;
}
