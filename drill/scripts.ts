/** Runs the drill's own TypeScript helpers (drill/servers) inside a namespace, through tsx. */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnInNamespace, type NsProcess } from './processes.js';
import type { ServerScript } from './servers/entry.js';

const require = createRequire(import.meta.url);
const TSX_LOADER = pathToFileURL(require.resolve('tsx')).href;
const ENTRY = fileURLToPath(new URL('./servers/entry.ts', import.meta.url));

export function spawnScript(
  label: string,
  ns: string,
  script: ServerScript,
  args: readonly string[],
  options: { stdin?: boolean } = {},
): NsProcess {
  return spawnInNamespace(
    label,
    ns,
    process.execPath,
    ['--import', TSX_LOADER, ENTRY, script, ...args],
    options,
  );
}

/** The repository's built data plane (`npm run build`). */
export const DIST = {
  proxy: fileURLToPath(new URL('../proxy-app/dist/proxy.js', import.meta.url)),
  sidecar: fileURLToPath(new URL('../proxy-app/dist/sidecar.js', import.meta.url)),
};
