import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** This repository's root (vm/ is one level below it). */
export const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const VM_DIR = join(REPO_ROOT, 'vm');
export const IMAGE_DIR = join(REPO_ROOT, 'image');
export const BUNDLE_DIR = join(REPO_ROOT, 'proxy-app', 'dist');

/** The base disk and downloads, kept between runs. Never inside the repository. */
export const CACHE_DIR = process.env.EGRESS_PROXY_VM_CACHE ?? '/var/cache/egress-proxy-vm';

/** Where a run's disk, seed and sockets live; removed when the run ends. */
export const RUN_PARENT_DIR = process.env.EGRESS_PROXY_VM_RUN_DIR ?? '/var/tmp';
