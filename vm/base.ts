import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, VM_DIR } from './paths.js';
import { run } from './run.js';

const BUILD_SCRIPT = join(VM_DIR, 'build-base.sh');
const COMPLETE = '.complete';

export interface BaseImage {
  /** rootfs/, vmlinuz and initrd.img. */
  readonly dir: string;
  /** Whether this call built it (false: taken from the cache). */
  readonly built: boolean;
  readonly ms: number;
}

/**
 * The cached base, keyed by a hash of build-base.sh (which holds the package list): a changed
 * script builds a new base and removes the old ones. A build is moved into place only when complete.
 */
export async function ensureBase(log: (line: string) => void): Promise<BaseImage> {
  const started = Date.now();
  const key = createHash('sha256').update(readFileSync(BUILD_SCRIPT)).digest('hex').slice(0, 16);
  const dir = join(CACHE_DIR, `base-${key}`);
  if (existsSync(join(dir, COMPLETE))) return { dir, built: false, ms: Date.now() - started };

  mkdirSync(CACHE_DIR, { recursive: true });
  for (const entry of readdirSync(CACHE_DIR)) {
    if (entry.startsWith('base-')) rmSync(join(CACHE_DIR, entry), { recursive: true, force: true });
  }
  const building = `${dir}.building-${process.pid}`;
  log(`building the base disk in ${building} (debootstrap: a few minutes)`);
  try {
    await run('bash', [BUILD_SCRIPT, building, join(CACHE_DIR, 'debs')], { timeoutMs: 15 * 60_000 });
    writeFileSync(join(building, COMPLETE), `${new Date().toISOString()}\n`);
    renameSync(building, dir);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return { dir, built: true, ms: Date.now() - started };
}
