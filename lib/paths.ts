import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EgressProxyPackageError } from './errors.js';

/** The `name` in this package's package.json. */
export const PACKAGE_NAME = 'egress-proxy';

/**
 * The root of this package: the nearest folder above this module whose package.json names it.
 * It is the repository in a checkout (lib/) and the installed package when compiled (dist/lib/),
 * so files shipped beside the code are found wherever the package lives, whatever the working
 * directory.
 */
export function packageRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && readPackageName(manifest) === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) {
      throw new EgressProxyPackageError(`no package.json named "${PACKAGE_NAME}" above ${from}`);
    }
  }
}

function readPackageName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}

/** The data-plane bundles (`npm run build`), shipped in the package. */
export const DEFAULT_BUNDLE_DIRECTORY = join(packageRoot(), 'proxy-app', 'dist');
/** The image files (component documents, scripts, units, host tuning), shipped in the package. */
export const DEFAULT_IMAGE_DIRECTORY = join(packageRoot(), 'image');
