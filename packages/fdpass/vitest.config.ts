import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'fdpass',
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Integration tests fork workers and wait on real sockets; each bounds its own waits.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
