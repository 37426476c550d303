import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EgressProxyStack } from '../../lib/egress-proxy-stack.js';
import { settingsFromContext } from '../../lib/settings.js';

/** The context bin/ would read from cdk.json, reduced to what the tests rely on. */
export const BASE_CONTEXT: Record<string, unknown> = {
  'egressProxy:allow': ['example.com', '*.example.org'],
};

let bundleDirectory: string | undefined;

/**
 * A stand-in for proxy-app/dist with the files ProxyImage requires. Unit tests use it so their
 * templates do not depend on whether or how the data plane was built; test/lib/synth.test.ts
 * synthesizes the real app against the real bundles.
 */
export function fixtureBundleDirectory(): string {
  if (bundleDirectory) return bundleDirectory;
  bundleDirectory = mkdtempSync(join(tmpdir(), 'egress-proxy-dist-'));
  mkdirSync(bundleDirectory, { recursive: true });
  writeFileSync(join(bundleDirectory, 'proxy.js'), '// fixture\n');
  writeFileSync(join(bundleDirectory, 'sidecar.js'), '// fixture\n');
  writeFileSync(join(bundleDirectory, 'package.json'), '{ "type": "commonjs" }\n');
  return bundleDirectory;
}

/** Builds the app the way bin/ does (with cdk-nag registered), from the given context. */
export function buildApp(context: Record<string, unknown> = {}): { app: App; stack: EgressProxyStack } {
  const app = new App({ context: { ...BASE_CONTEXT, ...context } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const stack = new EgressProxyStack(app, 'EgressProxy', {
    settings: settingsFromContext(app.node),
    bundleDirectory: fixtureBundleDirectory(),
  });
  return { app, stack };
}

const ASSET_HASH = /[0-9a-f]{64}/g;
/** Component and recipe names end in a 16-hex hash of the assets (ProxyImage.contentHash). */
const CONTENT_HASH_NAME = /(-)[0-9a-f]{16}(")/g;

/**
 * The template with asset hashes and asset-derived names replaced by placeholders, so snapshots
 * change when the stack changes, not whenever proxy-app/dist or image/ is rebuilt.
 */
export function stableTemplate(template: object): unknown {
  const text = JSON.stringify(template)
    .replace(ASSET_HASH, '<asset-hash>')
    .replace(CONTENT_HASH_NAME, '$1<content-hash>$2');
  return JSON.parse(text);
}
