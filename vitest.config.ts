import { defineConfig } from 'vitest/config';

/**
 * Most test files wait on real processes, sockets and timers more than they compute, so two
 * run at once. The bench smoke tests load the machine on purpose (and time things): they run
 * afterwards, one at a time, with nothing else beside them.
 */
const benches = ['test/e2e/anchors-bench.test.ts', 'test/e2e/controller-scale-short.test.ts', 'test/e2e/soak-short.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // End-to-end tests start real processes on real ports; keep files isolated.
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: 'reports/vitest.json' },
    projects: [
      { extends: true, test: { name: 'tests', include: ['test/**/*.test.ts'], exclude: benches, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'benches', include: benches, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
});
