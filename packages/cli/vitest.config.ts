import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'cli',
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Integration tests run the real `handoff` command, which forks workers; each bounds its own waits.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
