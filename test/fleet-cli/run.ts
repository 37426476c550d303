/** Runs the real fleet command as a child process, the way a pipeline would, and collects its output. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAKE_CREDENTIALS, REGION } from './moto.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSX = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
const MAIN = fileURLToPath(new URL('../../fleet-cli/main.ts', import.meta.url));

/** The bundle this test file runs; each file builds its own, as test files run in parallel. */
let bundle: string | undefined;

/** Builds the bundle with the project's own build script, into a directory of this test file's. */
export function buildBundle(): void {
  if (bundle) return;
  const outfile = join(mkdtempSync(join(tmpdir(), 'fleet-cli-')), 'fleet.mjs');
  const built = spawnSync(process.execPath, ['fleet-cli/build.mjs', outfile], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (built.status !== 0) throw new Error(`fleet-cli/build.mjs failed: ${built.stderr}`);
  bundle = outfile;
}

export function removeBundle(): void {
  if (bundle) rmSync(dirname(bundle), { recursive: true, force: true });
  bundle = undefined;
}

export interface Result {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** `bundle` runs what `npx egress-proxy-fleet` runs; `tsx` what `npm run fleet` runs. */
  readonly via?: 'bundle' | 'tsx';
  readonly endpoint?: string;
  /** Added to (or, when undefined, removed from) the child's environment. */
  readonly env?: Record<string, string | undefined>;
  /** Sees stdout as it arrives, for commands that keep running. */
  readonly onStdout?: (chunk: string) => void;
}

export function runFleet(args: readonly string[], options: RunOptions = {}): Promise<Result> {
  if (options.via !== 'tsx' && !bundle) throw new Error('call buildBundle() first');
  const [command, prefix] = options.via === 'tsx' ? [TSX, [MAIN]] : [process.execPath, [bundle!]];
  // Only what the command needs: no real profile or credentials from the machine running the tests.
  const wanted: Record<string, string | undefined> = {
    PATH: process.env['PATH'] ?? '',
    HOME: '/nonexistent',
    AWS_ACCESS_KEY_ID: FAKE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: FAKE_CREDENTIALS.secretAccessKey,
    AWS_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    // The SDK warns on Node 20 about its future Node 22 requirement; it is noise in these assertions.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...(options.endpoint ? { AWS_ENDPOINT_URL: options.endpoint } : {}),
    ...options.env,
  };
  const env = Object.fromEntries(Object.entries(wanted).filter(([, value]) => value !== undefined));
  const child = spawn(command, [...prefix, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    options.onStdout?.(chunk);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}
