// Bundles the fleet command into one ESM file that runs with `node` alone (no tsx, no node_modules),
// so `npx egress-proxy-fleet` works from the published package and from a deploy pipeline.
import { build } from 'esbuild';
import { chmod } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// An optional argument puts the bundle elsewhere; tests use it so parallel test files never
// overwrite a bundle another file is running.
const outfile = process.argv[2] ?? fileURLToPath(new URL('./dist/fleet.mjs', import.meta.url));
await build({
  entryPoints: [fileURLToPath(new URL('./main.ts', import.meta.url))],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Some bundled SDK dependencies are CommonJS and call require() for Node built-ins; an ESM
  // bundle has no require of its own, so give it one.
  banner: {
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __fleetCreateRequire } from 'node:module';",
      'const require = __fleetCreateRequire(import.meta.url);',
    ].join('\n'),
  },
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
// npm sets the mode for "bin" entries on install; this makes the file runnable straight after a build.
await chmod(outfile, 0o755);
