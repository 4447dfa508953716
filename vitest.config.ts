import { defineConfig } from 'vitest/config';

/**
 * One test command for the whole workspace: each package and app is a project with its own
 * `vitest.config.ts`. Integration tests fork real processes, so files run in separate forks.
 */
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'examples/*'],
  },
});
