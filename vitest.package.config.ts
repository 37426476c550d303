import { defineConfig } from 'vitest/config';

// The package as others get it: packed, installed into a new app, compiled and synthesized; and the
// API reference regenerated. CPU-heavy and a few minutes long, so `npm test` runs it after the main
// suite rather than beside the timed drill and integration tests.
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    maxWorkers: 1,
  },
});
