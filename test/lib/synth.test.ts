import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itWithTool } from './tools.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const clone = mkdtempSync(join(tmpdir(), 'egress-proxy-clone-'));
const outdir = join(clone, 'cdk.out');
let synth: { status: number | null; output: string };

/** cfn-lint findings we accept, each with the reason. Anything else at error level fails. */
const ACCEPTED_CFN_LINT_ERRORS = [
  {
    // cfn-lint 1.51's schema predates CloudFormation's AutoScalingInstanceRefresh update policy,
    // which aws-cdk-lib 2.276 renders for UpdatePolicy.instanceRefresh.
    rule: 'E3016',
    message: /'AutoScalingInstanceRefresh' was unexpected/,
  },
];

/** The repository as a fresh clone has it: the files git knows (committed or not ignored), no build output. */
function freshClone(): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((file) => file && existsSync(join(REPO, file)));
  for (const file of files) {
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    cpSync(join(REPO, file), join(clone, file));
  }
  // `npm ci` would install the same tree; linking it keeps the test offline and quick.
  symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules'), 'dir');
}

// The real app from bin/ through the real CLI, as a user on a fresh clone runs it: no build yet
// (cdk.json's "build" makes the bundles), no AWS credentials, no context lookups.
describe('npx cdk synth on a fresh clone', () => {
  beforeAll(() => {
    freshClone();
    expect(existsSync(join(clone, 'proxy-app/dist'))).toBe(false);
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
    const run = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', outdir], {
      cwd: clone,
      encoding: 'utf8',
      env: {
        ...env,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
    });
    synth = { status: run.status, output: `${run.stdout}\n${run.stderr}` };
  }, 240_000);

  afterAll(() => rmSync(clone, { recursive: true, force: true }));

  it('builds the bundles first (cdk.json "build")', () => {
    expect(synth.status, synth.output).toBe(0);
    for (const file of ['proxy.js', 'sidecar.js', 'package.json']) {
      expect(existsSync(join(clone, 'proxy-app/dist', file)), file).toBe(true);
    }
  });

  it('succeeds without credentials and without context lookups', () => {
    expect(synth.status, synth.output).toBe(0);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8')) as {
      missing?: unknown[];
    };
    expect(manifest.missing).toBeUndefined();
    expect(existsSync(join(outdir, 'EgressProxy.template.json'))).toBe(true);
  });

  itWithTool(
    'cfn-lint',
    'pip install cfn-lint',
    'passes cfn-lint with no errors',
    () => {
      expect(synth.status, synth.output).toBe(0);
      const lint = spawnSync(
        'cfn-lint',
        ['--format', 'json', '--', join(outdir, 'EgressProxy.template.json')],
        {
          encoding: 'utf8',
        },
      );
      expect(lint.error, 'cfn-lint did not run').toBeUndefined();
      const findings = JSON.parse(lint.stdout || '[]') as {
        Rule: { Id: string };
        Message: string;
        Level: string;
      }[];
      const errors = findings
        .filter((f) => f.Level === 'Error')
        .filter(
          (f) => !ACCEPTED_CFN_LINT_ERRORS.some((a) => a.rule === f.Rule.Id && a.message.test(f.Message)),
        )
        .map((f) => `${f.Rule.Id}: ${f.Message}`);
      expect(errors).toEqual([]);
    },
    60_000,
  );
});
