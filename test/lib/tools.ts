import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

/** Whether an executable is on PATH. */
export function onPath(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
}

/**
 * A test that needs an external tool. Without the tool it is reported as skipped with the reason
 * in its name (never as passed); under CI (CI set) a missing tool fails the test instead.
 */
export function itWithTool(
  tool: string,
  install: string,
  name: string,
  fn: () => void,
  timeoutMs?: number,
): void {
  if (onPath(tool)) {
    it(name, fn, timeoutMs);
  } else if (process.env.CI) {
    it(name, () => {
      throw new Error(`${tool} is not on PATH; install it (${install}) to run this check`);
    });
  } else {
    it.skip(`${name} [SKIPPED: ${tool} not on PATH; install ${install}]`, fn);
  }
}
