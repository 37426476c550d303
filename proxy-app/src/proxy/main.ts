import cluster from 'node:cluster';
import { loadConfigOrExit } from '../config/cli.js';
import { loadProxyConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { runPrimary } from './primary.js';
import { THREADPOOL_SIZE } from './resolver.js';
import { runWorker } from './worker.js';

if (cluster.isPrimary) {
  // Read by libuv when a worker first uses its pool; workers inherit the environment (resolver.ts).
  process.env.UV_THREADPOOL_SIZE ??= String(THREADPOOL_SIZE);
  const { config, path } = loadConfigOrExit('proxy', loadProxyConfig);
  runPrimary(
    config,
    path,
    createLogger('proxy', config.log.level, { maxBufferBytes: config.log.maxBufferBytes }),
  );
} else {
  runWorker();
}
