/** What the drill needs from the host, checked before anything is created. */
import { existsSync } from 'node:fs';
import { run } from './exec.js';
import { DIST } from './scripts.js';

export const INSTALL_HINT = 'apt-get install -y haproxy iproute2';

/** Problems that make the drill impossible here (empty: good to go). */
export async function missingPrerequisites(): Promise<string[]> {
  const missing: string[] = [];
  if (process.platform !== 'linux') missing.push('Linux network namespaces');
  if (process.getuid?.() !== 0) missing.push('root (to create network namespaces)');
  const haproxy = await run('haproxy', ['-v'], 5_000);
  if (haproxy.code !== 0) missing.push('haproxy');
  else {
    const version = /version (\d+)\.(\d+)/.exec(haproxy.stdout);
    const [major, minor] = [Number(version?.[1] ?? 0), Number(version?.[2] ?? 0)];
    if (major < 2 || (major === 2 && minor < 6)) missing.push('haproxy >= 2.6 (runtime "add server")');
  }
  const ip = await run('ip', ['-V'], 5_000);
  if (ip.code !== 0) missing.push('ip (iproute2)');
  return missing;
}

/** The built bundles; `npm run build` makes them. */
export function missingBuild(): string[] {
  return Object.values(DIST).filter((file) => !existsSync(file));
}
