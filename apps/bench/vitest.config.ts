import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'bench',
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // The smoke test starts real servers and a real load generator for about a second.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
