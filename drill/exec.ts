/** Small process and timing helpers shared by the drill modules. */
import { execFile } from 'node:child_process';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`); never throws for a non-zero exit. */
export function run(file: string, args: readonly string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (error && !stderr ? error.message : '') });
    });
  });
}

/** Runs a command and throws with its stderr when it fails. */
export async function must(file: string, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  const result = await run(file, args, timeoutMs);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/**
 * Polls `probe` every `everyMs` until it returns a value other than undefined, or `timeoutMs`
 * passes (then undefined). Bounded by both time and count.
 */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 100,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  const maxRounds = Math.ceil(timeoutMs / everyMs) + 1;
  for (let round = 0; round < maxRounds; round++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(everyMs, Math.max(0, deadline - Date.now())));
  }
  return undefined;
}

/** Seconds with one decimal, for the report. */
export const seconds = (ms: number): string => (ms / 1000).toFixed(1);
