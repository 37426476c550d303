import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

// docs/api is generated from the doc comments of the public API (lib/index.ts) and committed, so
// it can be read without building. A changed prop or comment must come with `npm run docs`.
describe('docs/api', () => {
  it('is what typedoc generates from the current doc comments', () => {
    const out = mkdtempSync(join(tmpdir(), 'egress-proxy-api-docs-'));
    const run = spawnSync('npx', ['typedoc', '--out', out], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    const committed = readFileSync(join(REPO, 'docs', 'api', 'README.md'), 'utf8');
    const generated = readFileSync(join(out, 'README.md'), 'utf8');
    expect(generated === committed, 'docs/api/README.md is stale: run "npm run docs" and commit it').toBe(
      true,
    );
  }, 180_000);
});
