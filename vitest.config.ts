import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/build.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration tests own real pseudo-terminals and child daemons; this is a 2-core machine.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
