import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests own real pseudo-terminals and child daemons; two cores only.
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
