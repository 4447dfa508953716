import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'metrics',
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Integration tests fork a real primary and its workers; each bounds its own waits.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
