/**
 * Runs a scenario script in its own network, mount and PID namespaces: only loopback exists,
 * /etc/hosts and /etc/resolv.conf are the test's own, so names resolve as the test says through
 * the real system resolver (getaddrinfo), and DNS goes to a server the scenario runs itself; when
 * the scenario ends, however it ends, the kernel ends everything it started.
 * Needs root for unshare; without it the tests skip, except under CI, where they fail.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Why scenarios cannot run here, or null when they can. */
export function isolationUnavailable(): string | null {
  const probe = spawnSync('unshare', ['--net', '--mount', 'ip', 'link', 'set', 'lo', 'up'], {
    encoding: 'utf8',
  });
  if (probe.error) return `unshare or ip is missing (${probe.error.message})`;
  return probe.status === 0 ? null : `unshare --net --mount needs root (${probe.stderr.trim()})`;
}

export interface IsolatedFiles {
  readonly hosts: string;
  readonly resolvConf: string;
}

/**
 * Runs test/proxy-app/scenarios/<name>.ts with `args` and returns the JSON object it printed as
 * its last line of stdout. The scenario owns everything it starts; the namespace dies with it.
 */
export async function runIsolated<T>(
  name: string,
  files: IsolatedFiles,
  args: readonly string[] = [],
  timeoutMs = 60_000,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'egress-proxy-isolated-'));
  writeFileSync(join(dir, 'hosts'), files.hosts);
  writeFileSync(join(dir, 'resolv.conf'), files.resolvConf);
  const script = fileURLToPath(new URL(`./scenarios/${name}.ts`, import.meta.url));
  const child = spawn(
    'unshare',
    [
      '--net',
      '--mount',
      '--pid',
      '--fork',
      '--kill-child',
      'sh',
      '-c',
      'ip link set lo up && mount --bind "$1/hosts" /etc/hosts && mount --bind "$1/resolv.conf" /etc/resolv.conf && shift && exec "$@"',
      'sh',
      dir,
      process.execPath,
      '--import',
      'tsx',
      script,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{')) {
    throw new Error(`scenario ${name} exited ${code}\nstdout: ${stdout}\nstderr: ${stderr}`);
  }
  return JSON.parse(last) as T;
}
