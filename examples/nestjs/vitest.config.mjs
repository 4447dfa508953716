import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'example-nestjs',
    include: ['test/**/*.test.mjs'],
    pool: 'forks',
    // Each test starts a real primary with 2 workers and waits on real sockets.
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
