import { treeCpuSeconds } from '../proc.js';
import type { Target } from '../target.js';

/** CPU used by the proxy's process tree over a window, as % of one core (2 busy cores = 200%). */
export function cpuMeter(target: Target): () => number | null {
  if (target.pid === null) return () => null;
  const pid = target.pid;
  const cpu0 = treeCpuSeconds(pid);
  const t0 = performance.now();
  return () => (100 * (treeCpuSeconds(pid) - cpu0)) / ((performance.now() - t0) / 1_000);
}
