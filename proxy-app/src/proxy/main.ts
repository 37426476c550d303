import cluster from 'node:cluster';
import { loadConfigOrExit } from '../config/cli.js';
import { loadProxyConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { runPrimary } from './primary.js';
import { runWorker } from './worker.js';

if (cluster.isPrimary) {
  const { config, path } = loadConfigOrExit('proxy', loadProxyConfig);
  runPrimary(config, path, createLogger('proxy', config.log.level));
} else {
  runWorker();
}
