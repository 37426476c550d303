import { existsSync, readFileSync } from 'node:fs';
import { ConfigError, parseConfig, parsePolicyDocument } from './parse.js';
import type { EgressProxyConfig } from './schema.js';

/** The config file named by `--config FILE` (or `--config=FILE`), else `EGRESS_PROXY_CONFIG`. */
export function configPath(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  const index = argv.findIndex((arg) => arg === '--config' || arg.startsWith('--config='));
  const fromArgs =
    index === -1 ? undefined : argv[index]!.includes('=') ? argv[index]!.slice(9) : argv[index + 1];
  const path = fromArgs ?? env.EGRESS_PROXY_CONFIG;
  if (!path) throw new ConfigError('', 'no config file: pass --config FILE or set EGRESS_PROXY_CONFIG');
  return path;
}

/** Reads, parses and validates a config file; every failure is a ConfigError. */
export function loadConfigFile(path: string): EgressProxyConfig {
  return parseConfig(readJson(path));
}

/**
 * The config as the proxy runs it: the file, with `policy.file` (when it exists) in place of
 * `allow`, `allowPorts` and `allowCidrs`. An invalid policy file is a ConfigError naming the key
 * inside it and the file.
 */
export function loadProxyConfig(path: string): EgressProxyConfig {
  const config = loadConfigFile(path);
  const file = config.policy.file;
  if (file === null || !existsSync(file)) return config;
  const raw = readJson(file);
  try {
    return Object.freeze({ ...config, ...parsePolicyDocument(raw) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(error.key, `${error.problem} (in the policy file ${file})`);
  }
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('', `${path} is not valid JSON: ${(error as Error).message}`);
  }
}
