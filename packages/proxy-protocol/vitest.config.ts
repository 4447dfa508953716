import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'proxy-protocol',
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // The property tests run 10,000 cases per header kind; each file bounds its own work.
    testTimeout: 120_000,
  },
});
