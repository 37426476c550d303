import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run after this suite by `npm test` (vitest.package.config.ts).
    exclude: [...configDefaults.exclude, 'test/package/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration tests start real processes on loopback ports; keep the 2-core machine responsive.
    maxWorkers: 2,
  },
});
