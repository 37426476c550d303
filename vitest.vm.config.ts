import { defineConfig } from 'vitest/config';

// The image boot test (test/vm, docs/image.md): one QEMU guest, one file at a time. Not part of
// `npm test`, whose config includes only *.test.ts.
export default defineConfig({
  test: {
    include: ['test/vm/**/*.vmtest.ts'],
    testTimeout: 120_000,
    // beforeAll builds the base disk on a cold cache (debootstrap: minutes), then boots the guest.
    hookTimeout: 20 * 60_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
