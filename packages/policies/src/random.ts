import { randomOption } from './errors.js';
import type { PrimaryPolicy, WorkerView } from './types.js';

/** Options of {@link random}. */
export interface RandomOptions {
  /** Source of uniform numbers in `[0, 1)` (default `Math.random`); pass a seeded one in tests. */
  readonly random?: () => number;
}

/**
 * Hands each connection to a ready worker chosen uniformly at random, ignoring load and weight.
 * Stateless, so it is the baseline to compare others against, and it needs no coordination if you
 * ever run several primaries. Over many connections the counts even out, but in the short run they
 * do not (a worker can get several in a row), and it is blind to slow workers: prefer
 * `powerOfTwoChoices()`, which costs about the same and looks at load.
 */
export function random(options: RandomOptions = {}): PrimaryPolicy {
  const rand = randomOption('random', options.random);
  return {
    mode: 'primary',
    name: 'random',
    pick(workers: readonly WorkerView[]): WorkerView | undefined {
      const n = workers.length;
      if (n === 0) return undefined;
      const i = Math.floor(rand() * n);
      return workers[i < 0 ? 0 : i >= n ? n - 1 : i];
    },
  };
}
