/**
 * Squid as the reference: a squid.conf equivalent to ours (loopback only, no cache, CONNECT only
 * to the origin's ports, access log to a file) in a temp dir; started in the foreground, stopped
 * by PID.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { OriginPorts } from './loopback-origin.js';
import { freePort } from '../test/support/free-port.js';
import { processTree, signalEach, waitGone } from './proc.js';
import type { RunningProxy } from './target.js';

const READY_TIMEOUT_MS = 20_000;

/** The squid binary on PATH (or in sbin, where Debian puts it), or null. */
export function findSquid(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) if (dir && existsSync(join(dir, 'squid'))) return join(dir, 'squid');
  return null;
}

export function squidVersion(binary: string): string {
  const banner = execFileSync(binary, ['-v'], { encoding: 'utf8' });
  return /Version (\S+)/.exec(banner)?.[1] ?? 'unknown';
}

export interface SquidOptions {
  /** Column heading. */
  readonly name: string;
  readonly binary: string;
  readonly dir: string;
  readonly origin: OriginPorts;
  /** SMP workers; 1 is squid without SMP (a master and one kid). */
  readonly workers: number;
}

export function squidConf(port: number, options: SquidOptions): string {
  const { dir, origin } = options;
  return [
    `http_port 127.0.0.1:${port}`,
    `workers ${options.workers}`,
    // A forward proxy, not a cache: nothing stored, in memory or on disk.
    'cache deny all',
    'cache_mem 0 MB',
    `acl origin_ports port ${origin.source} ${origin.answer} ${origin.hold} ${origin.http}`,
    'acl CONNECT method CONNECT',
    'http_access deny !origin_ports',
    'http_access deny CONNECT !origin_ports',
    'http_access allow localhost',
    'http_access deny all',
    // Logging comparable to ours at "info": one access-log line per request or tunnel, to a file.
    `access_log stdio:${join(dir, 'access.log')}`,
    `cache_log ${join(dir, 'cache.log')}`,
    `pid_filename ${join(dir, 'squid.pid')}`,
    `coredump_dir ${dir}`,
    'pinger_enable off',
    'shutdown_lifetime 0 seconds',
    'max_filedescriptors 16384',
    '',
  ].join('\n');
}

export async function startSquid(options: SquidOptions): Promise<RunningProxy> {
  const port = await freePort();
  const { dir } = options;
  // Squid drops root for its `proxy` user; the logs and pid file live in this directory.
  chmodSync(dir, 0o777);
  const confFile = join(dir, 'squid.conf');
  writeFileSync(confFile, squidConf(port, options));
  const outFile = join(dir, 'squid.out');
  const out = openSync(outFile, 'w');
  // A service name of our own keeps our SMP sockets and shared memory apart from any other squid.
  const child = spawn(
    options.binary,
    ['--foreground', '-n', `bench${process.pid}w${options.workers}`, '-f', confFile],
    {
      stdio: ['ignore', out, out],
    },
  );
  closeSync(out);
  const pid = child.pid!;
  let exited = false;
  child.once('exit', () => (exited = true));

  // Every kid logs this once its share of the listening socket is open.
  const cacheLog = join(dir, 'cache.log');
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const ready = (): boolean =>
    existsSync(cacheLog) &&
    (readFileSync(cacheLog, 'utf8').match(/Accepting HTTP Socket connections/g) ?? []).length >=
      options.workers;
  while (!ready()) {
    if (exited || Date.now() > deadline) {
      signalEach(processTree(pid), 'SIGKILL');
      const log = existsSync(cacheLog) ? readFileSync(cacheLog, 'utf8') : '';
      throw new Error(`squid did not start:\n${readFileSync(outFile, 'utf8')}\n${log.slice(-2_000)}`);
    }
    await sleep(100);
  }

  return {
    name: options.name,
    proxyPort: port,
    pid,
    logDir: dir,
    stop: async () => {
      const tree = processTree(pid);
      signalEach([pid], 'SIGTERM');
      if (!(await waitGone(tree, 5_000))) signalEach(tree, 'SIGKILL');
      await waitGone(tree, 3_000);
    },
  };
}
