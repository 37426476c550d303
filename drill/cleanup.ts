/**
 * `npx tsx drill/cleanup.ts [PID]`: removes whatever a drill left behind (namespaces and the
 * processes in them, /etc/netns entries, run directories, a stale lock). With PID, it first waits
 * (bounded) for that drill process to exit: the drill starts it detached when it gets a signal,
 * so the cleanup finishes even if a wrapper (npm, tsx) kills the drill before it is done.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sleep } from './exec.js';
import { removeLeftovers, removeStaleLock } from './network.js';
import { pidAlive } from './processes.js';

const WAIT_MS = 15_000;

export async function cleanupAfter(pid: number | undefined): Promise<string[]> {
  for (let waited = 0; pid && pidAlive(pid) && waited < WAIT_MS; waited += 100) await sleep(100);
  const removed = await removeLeftovers();
  removeStaleLock();
  return removed;
}

/** Starts this script detached (its own session: a terminal's Ctrl-C does not reach it). */
export function spawnDetachedCleanup(pid: number): void {
  const loader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const child = spawn(process.execPath, ['--import', loader, fileURLToPath(import.meta.url), String(pid)], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const pid = process.argv[2] ? Number(process.argv[2]) : undefined;
  cleanupAfter(pid).then(
    (removed) => {
      if (!pid)
        process.stdout.write(removed.length ? `removed ${removed.join(', ')}\n` : 'nothing to clean up\n');
    },
    (error: unknown) => {
      process.stderr.write(`drill cleanup: ${String(error)}\n`);
      process.exit(1);
    },
  );
}
