import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_BUNDLE_DIRECTORY } from '../../lib/proxy-image.js';
import { itWithTool } from './tools.js';

const outdir = mkdtempSync(join(tmpdir(), 'egress-proxy-cdk-out-'));
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

// The real app from bin/ through the real CLI, as a user on a fresh clone runs it: no AWS
// credentials, no context lookups, the real proxy-app/dist bundles.
describe('npx cdk synth', () => {
  beforeAll(() => {
    expect(
      existsSync(join(DEFAULT_BUNDLE_DIRECTORY, 'proxy.js')),
      'proxy-app/dist is missing: run npm run build',
    ).toBe(true);
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
    const run = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', outdir], {
      encoding: 'utf8',
      env: {
        ...env,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      },
    });
    synth = { status: run.status, output: `${run.stdout}\n${run.stderr}` };
  }, 180_000);

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
