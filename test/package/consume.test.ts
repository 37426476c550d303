import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MINUTE = 60_000;

/** Runs a command to completion within `timeoutMs`; throws with its output unless it exits 0. */
function sh(command: string, args: string[], options: SpawnSyncOptions & { timeoutMs: number }): string {
  const run = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeoutMs, ...options });
  const output = `${String(run.stdout)}\n${String(run.stderr)}`;
  if (run.error || run.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${run.error?.message ?? `exit ${run.status}`}):\n${output}`,
    );
  }
  return String(run.stdout);
}

/** The README's example app: the first TypeScript block under "Use it from your own CDK app". */
function readmeExample(readme: string): string {
  const section = readme.split(/^## Use it from your own CDK app$/m)[1];
  const code = section?.match(/^```ts\n([\s\S]*?)^```$/m)?.[1];
  if (!code) throw new Error('README.md has no ```ts block under "## Use it from your own CDK app"');
  return code;
}

/** Every file under `dir`, relative to it, sorted. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

/** The installed version of a dependency of this repository, so the app installs the same one. */
function installedVersion(name: string): string {
  const manifest = JSON.parse(readFileSync(join(REPO, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return `${name}@${manifest.version}`;
}

const work = mkdtempSync(join(tmpdir(), 'egress-proxy-package-'));
const clone = join(work, 'clone');
const consumer = join(work, 'app');
const cdkOut = join(work, 'cdk.out');

/**
 * A fresh clone: the files git tracks (or would track) and nothing built. `npm pack` in it must
 * build everything the package ships (the prepack script). node_modules is this repository's, as
 * `npm ci` would have made it.
 */
function freshClone(): void {
  const listed = sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO,
    timeoutMs: MINUTE,
  });
  for (const file of listed.split('\0').filter(Boolean)) {
    if (!existsSync(join(REPO, file))) continue;
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    cpSync(join(REPO, file), join(clone, file));
  }
  symlinkSync(join(REPO, 'node_modules'), join(clone, 'node_modules'), 'dir');
}

interface Assembly {
  manifest: { missing?: unknown[]; artifacts: Record<string, { type: string }> };
  template: { Resources: Record<string, { Type: string }> };
  assets: { files: Record<string, { source: { path: string } }> };
  report: { pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[] };
}
let assembly: Assembly;

// The package as another team gets it: packed from a fresh clone, installed from the tarball into
// a new CDK app outside this repository, the README's example compiled with the app's own
// TypeScript and run with cdk-nag. Peer dependencies come from the npm cache or registry, at the
// versions this repository tests with.
describe('the packed library in another CDK app', () => {
  beforeAll(() => {
    freshClone();
    const packed = JSON.parse(
      sh('npm', ['pack', '--json', '--pack-destination', work], { cwd: clone, timeoutMs: 5 * MINUTE }),
    ) as { filename: string }[];
    const tarball = join(work, packed[0]!.filename);

    mkdirSync(consumer);
    writeFileSync(
      join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }, null, 2),
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          types: ['node'],
          outDir: 'out',
        },
        include: ['app.ts'],
      }),
    );
    writeFileSync(join(consumer, 'app.ts'), readmeExample(readFileSync(join(REPO, 'README.md'), 'utf8')));
    const peers = ['aws-cdk-lib', 'constructs', 'cdk-nag', 'typescript', '@types/node'].map(installedVersion);
    sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...peers], {
      cwd: consumer,
      timeoutMs: 8 * MINUTE,
    });
    sh(join(consumer, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: consumer, timeoutMs: 3 * MINUTE });
    sh(process.execPath, ['out/app.js'], {
      cwd: consumer,
      timeoutMs: 5 * MINUTE,
      env: { ...process.env, CDK_OUTDIR: cdkOut },
    });

    const read = <T>(file: string): T => JSON.parse(readFileSync(join(cdkOut, file), 'utf8')) as T;
    assembly = {
      manifest: read('manifest.json'),
      template: read('Workloads.template.json'),
      assets: read('Workloads.assets.json'),
      report: read('validation-report.json'),
    };
  }, 20 * MINUTE);

  it('synthesizes the README example with no missing context and a clean cdk-nag report', () => {
    expect(assembly.manifest.missing).toBeUndefined();
    const nag = assembly.report.pluginReports.find((r) => r.pluginName === 'AwsSolutions');
    expect(nag?.violations).toEqual([]);
    expect(nag?.conclusion).toBe('success');
    const types = new Set(Object.values(assembly.template.Resources).map((r) => r.Type));
    for (const type of [
      'AWS::AutoScaling::AutoScalingGroup',
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
      'AWS::ImageBuilder::Image',
    ]) {
      expect(types).toContain(type);
    }
  });

  it('ships every file the constructs stage into their assets, found inside the installed package', () => {
    const staged = Object.values(assembly.assets.files)
      .map((asset) => join(cdkOut, asset.source.path))
      .filter((path) => !path.endsWith('.json'))
      .map(filesUnder);
    // The bundles exactly as the clone built them, and every image file git tracks.
    const bundles = filesUnder(join(clone, 'proxy-app', 'dist'));
    const imageFiles = filesUnder(join(clone, 'image'));
    expect(staged).toContainEqual(bundles);
    expect(staged).toContainEqual(imageFiles);
    expect(bundles).toEqual(expect.arrayContaining(['proxy.js', 'sidecar.js', 'package.json']));
  });

  // A `cdk init` app is CommonJS; Node 20.19+ and 22.12+ load this ES-module package with require().
  it(
    'works from a CommonJS app as well (TypeScript module NodeNext compiles the import to require)',
    () => {
      const cjs = join(consumer, 'cjs');
      mkdirSync(cjs);
      writeFileSync(
        join(cjs, 'package.json'),
        JSON.stringify({ name: 'consumer-cjs', private: true, type: 'commonjs' }),
      );
      writeFileSync(join(cjs, 'tsconfig.json'), readFileSync(join(consumer, 'tsconfig.json')));
      writeFileSync(join(cjs, 'app.ts'), readFileSync(join(consumer, 'app.ts')));
      sh(join(consumer, 'node_modules', '.bin', 'tsc'), ['-p', '.'], { cwd: cjs, timeoutMs: 3 * MINUTE });
      expect(readFileSync(join(cjs, 'out', 'app.js'), 'utf8')).toContain('require("egress-proxy")');
      const out = join(work, 'cdk.out.cjs');
      sh(process.execPath, ['out/app.js'], {
        cwd: cjs,
        timeoutMs: 5 * MINUTE,
        env: { ...process.env, CDK_OUTDIR: out },
      });
      const template = JSON.parse(
        readFileSync(join(out, 'Workloads.template.json'), 'utf8'),
      ) as Assembly['template'];
      expect(Object.keys(template.Resources)).toEqual(Object.keys(assembly.template.Resources));
    },
    10 * MINUTE,
  );

  it('declares no runtime dependency: aws-cdk-lib and constructs are peers', () => {
    const installed = JSON.parse(
      readFileSync(join(consumer, 'node_modules', 'egress-proxy', 'package.json'), 'utf8'),
    ) as { dependencies?: Record<string, string>; peerDependencies: Record<string, string> };
    expect(installed.dependencies).toBeUndefined();
    expect(Object.keys(installed.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'constructs']);
  });
});
