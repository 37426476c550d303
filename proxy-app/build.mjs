// Bundles the two processes into self-contained CommonJS files that need no node_modules.
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';

const outdir = new URL('./dist/', import.meta.url);
await mkdir(outdir, { recursive: true });
await build({
  entryPoints: {
    proxy: 'proxy-app/src/proxy/main.ts',
    sidecar: 'proxy-app/src/sidecar/main.ts',
  },
  outdir: outdir.pathname,
  bundle: true,
  platform: 'node',
  target: 'node20.18',
  format: 'cjs',
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
// The repository root is "type": "module"; this keeps dist/*.js CommonJS wherever it is copied.
await writeFile(new URL('package.json', outdir), '{ "type": "commonjs" }\n');
