/**
 * Starts the built proxy and sidecar (proxy-app/dist) as real processes on loopback, with a
 * config file written for the test, and collects their JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EgressProxyConfigInput } from '../../proxy-app/src/config/index.js';
import { freePort } from '../support/free-port.js';

const DIST = fileURLToPath(new URL('../../proxy-app/dist/', import.meta.url));

export interface Running {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  readonly stderr: () => string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** SIGTERM, then SIGKILL if still running after `graceMs`. */
  stop(graceMs?: number): Promise<number | string>;
}

export function run(name: 'proxy' | 'sidecar', configFile: string, env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(process.execPath, [join(DIST, `${name}.js`), '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of waiters) wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const waitForLog: Running['waitForLog'] = (predicate, timeoutMs = 10_000) =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = logs.find(predicate);
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${name}: no matching log line within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      void exited.then(() => {
        if (waiters.has(check)) {
          cleanup();
          reject(new Error(`${name} exited; stderr: ${stderr}`));
        }
      });
      check();
    });
  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog,
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      return exited;
    },
  };
}

export interface Fleet {
  readonly config: EgressProxyConfigInput & {
    proxy: { port: number };
    health: { port: number };
    metrics: { port: number };
  };
  readonly configFile: string;
  readonly proxy: Running;
  readonly proxyUrl: string;
  /** Rewrites the config file (e.g. before a SIGHUP). */
  writeConfig(config: unknown): void;
  stop(): Promise<void>;
}

/**
 * The policy that lets a test's loopback origins stand in for the internet: `localhost` and
 * loopback addresses on exactly these ports.
 */
export function loopbackInternet(
  ...ports: number[]
): Pick<EgressProxyConfigInput, 'allow' | 'allowPorts' | 'allowCidrs'> {
  return { allow: ['localhost'], allowPorts: ports, allowCidrs: ['127.0.0.0/8'] };
}

/** Writes a config file with free ports and the given settings, and starts the proxy. */
export async function startProxy(
  settings: Omit<EgressProxyConfigInput, 'proxy' | 'health' | 'metrics'> & {
    proxy?: EgressProxyConfigInput['proxy'];
  },
): Promise<Fleet> {
  const config = {
    ...settings,
    proxy: { host: '127.0.0.1', workers: 2, ...settings.proxy, port: await freePort() },
    health: { host: '127.0.0.1', port: await freePort() },
    metrics: { host: '127.0.0.1', port: await freePort() },
  };
  const configFile = join(mkdtempSync(join(tmpdir(), 'egress-proxy-test-')), 'config.json');
  const writeConfig = (value: unknown): void => writeFileSync(configFile, JSON.stringify(value, null, 2));
  writeConfig(config);
  const proxy = run('proxy', configFile);
  await proxy.waitForLog((line) => line.msg === 'proxy listening');
  const fleet: Fleet = {
    config,
    configFile,
    proxy,
    proxyUrl: `http://127.0.0.1:${config.proxy.port}`,
    writeConfig,
    // The proxy running now: a test may have replaced the one started here.
    stop: async () => void (await fleet.proxy.stop()),
  };
  return fleet;
}

/**
 * A listener that never accepts (Node always accepts, so this is a small Python process):
 * once its one-slot backlog is full, the kernel drops further SYNs and connects hang.
 */
export async function startNonAcceptingListener(
  host = '127.0.0.1',
): Promise<{ child: ChildProcess; port: number }> {
  const script = [
    'import socket, sys, time',
    's = socket.socket()',
    `s.bind(('${host}', 0))`,
    's.listen(0)',
    'print(s.getsockname()[1], flush=True)',
    'time.sleep(120)',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('error', reject);
  });
  return { child, port };
}
