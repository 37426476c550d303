import type { EgressProxyConfig } from './schema.js';
import { configPath, loadConfigFile } from './load.js';
import { ConfigError } from './parse.js';

/** Exit status for an unusable config (sysexits EX_CONFIG); systemd does not restart on it. */
export const EXIT_CONFIG = 78;

/**
 * Start-up for both processes: the config named on the command line, or one clear line on
 * stderr naming the offending key and exit 78 before anything listens.
 */
export function loadConfigOrExit(
  processName: string,
  load: (path: string) => EgressProxyConfig = loadConfigFile,
): { config: EgressProxyConfig; path: string } {
  try {
    const path = configPath(process.argv.slice(2), process.env);
    return { config: load(path), path };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`egress-proxy ${processName}: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
}
