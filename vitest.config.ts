import { defineConfig } from 'vitest/config';
import TimeBudgetReporter from './tools/time-budget-reporter.mjs';

/**
 * One test command for the whole workspace: each package and app is a project with its own
 * `vitest.config.ts`. Integration tests fork real processes, so files run in separate forks.
 * After the default reporter, each file's wall time, slowest first, with the files over the
 * per-file budget flagged (tools/time-budget-reporter.mjs: a warning, never a failure).
 */
export default defineConfig({
  test: {
    projects: ['packages/*', 'apps/*', 'examples/*'],
    reporters: ['default', new TimeBudgetReporter()],
  },
});
