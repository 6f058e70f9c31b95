// For working on one unit-test file at a time without compiling the whole tree first
// (`npx vitest run --config test/support/vitest.nobuild.config.ts test/unit/x.test.ts`).
// Integration tests need dist/: use the main config (npm test) for those.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    minWorkers: 1,
  },
});
