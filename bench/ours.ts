/**
 * Starts this repository's proxy (`proxy-app/dist/proxy.js`, built by `npm run build`, or another
 * build of it) on loopback with a config that admits the origin, and stops it by PID.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OriginPorts } from './loopback-origin.js';
import { freePort } from '../test/support/free-port.js';
import { processTree, signalEach, waitGone } from './proc.js';
import type { RunningProxy } from './target.js';
import { dial } from './client/dial.js';

export const PROXY_JS = fileURLToPath(new URL('../proxy-app/dist/proxy.js', import.meta.url));
const READY_TIMEOUT_MS = 15_000;

export interface OurProxyOptions {
  readonly name: string;
  /** A private temp directory for the config and the logs. */
  readonly dir: string;
  readonly origin: OriginPorts;
  readonly logLevel: 'info' | 'warn';
  readonly workers: number | 'auto';
  /** The Node.js binary that runs it, and flags for it (the workers inherit them). */
  readonly node: string;
  readonly nodeArgs: readonly string[];
  /** The bundle to run: PROXY_JS unless comparing another build. */
  readonly js: string;
}

/** `node --version` of a Node.js binary, e.g. `v22.12.0`. */
export function nodeVersion(node: string): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
}

export async function startOurProxy(options: OurProxyOptions): Promise<RunningProxy> {
  if (!existsSync(options.js)) throw new Error(`${options.js} is missing: run \`npm run build\` first`);
  const [port, health, metrics] = [await freePort(), await freePort(), await freePort()];
  const { origin } = options;
  const config = {
    proxy: { host: '127.0.0.1', port, workers: options.workers },
    health: { host: '127.0.0.1', port: health },
    metrics: { host: '127.0.0.1', port: metrics },
    allow: ['localhost'],
    allowPorts: [origin.source, origin.answer, origin.hold, origin.http],
    allowCidrs: ['127.0.0.0/8'],
    log: { level: options.logLevel },
  };
  const configFile = join(options.dir, 'config.json');
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const stdoutFile = join(options.dir, 'stdout.log');
  const stderrFile = join(options.dir, 'stderr.log');
  const out = openSync(stdoutFile, 'w');
  const err = openSync(stderrFile, 'w');
  const child = spawn(options.node, [...options.nodeArgs, options.js, '--config', configFile], {
    stdio: ['ignore', out, err],
  });
  closeSync(out);
  closeSync(err);
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => (exited = true));

  // At "info" the primary says when every worker listens; at "warn" it says nothing, so ask.
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const ready = async (): Promise<boolean> =>
    options.logLevel === 'info'
      ? readFileSync(stdoutFile, 'utf8').includes('"msg":"proxy listening"')
      : processTree(pid).length > 1 && (await answersConnect(port, origin.hold));
  while (!(await ready())) {
    if (exited || Date.now() > deadline) {
      signalEach(processTree(pid), 'SIGKILL');
      throw new Error(
        `${options.name} did not start; see ${stderrFile}:\n${readFileSync(stderrFile, 'utf8')}`,
      );
    }
    await sleep(100);
  }
  if (options.logLevel !== 'info') await sleep(500); // the other workers come up alongside

  return {
    name: options.name,
    proxyPort: port,
    pid,
    logDir: options.dir,
    stop: async () => {
      // The workloads close their sockets first, so the drain is immediate; a grace (profiles are
      // written at exit), then KILL.
      const tree = processTree(pid);
      signalEach([pid], 'SIGTERM');
      if (!(await waitGone(tree, 10_000))) signalEach(tree, 'SIGKILL');
      await waitGone(tree, 3_000);
    },
  };
}

/** True once the proxy on `port` opens a tunnel to the origin's `holdPort`. */
async function answersConnect(port: number, holdPort: number): Promise<boolean> {
  try {
    const { socket } = await dial({ name: 'probe', proxyPort: port, pid: null }, holdPort);
    socket.destroy();
    return true;
  } catch {
    return false;
  }
}
