import { randomOption } from './errors.js';
import type { PrimaryPolicy, WorkerView } from './types.js';

/** Options of {@link powerOfTwoChoices}. */
export interface PowerOfTwoChoicesOptions {
  /** Source of uniform numbers in `[0, 1)` (default `Math.random`); pass a seeded one in tests. */
  readonly random?: () => number;
}

/**
 * Picks two distinct ready workers at random and hands the connection to the less loaded one
 * (fewer connections in flight, so a worker busy running code is passed over at once; then fewer
 * open connections for its weight; then lower event-loop delay; then the first drawn).
 * Choose it for a large pool, or when the load figures lag (they arrive in batches): unlike
 * `leastConnections()` it does not send a burst of connections to the one worker that looked
 * idlest in the last report, yet it stays close to it in balance (the "power of two choices").
 * Cost: two random draws and two comparisons, whatever the pool size.
 */
export function powerOfTwoChoices(options: PowerOfTwoChoicesOptions = {}): PrimaryPolicy {
  const rand = randomOption('powerOfTwoChoices', options.random);
  const draw = (n: number): number => {
    const i = Math.floor(rand() * n);
    return i < 0 ? 0 : i >= n ? n - 1 : i;
  };
  return {
    mode: 'primary',
    name: 'power-of-two-choices',
    oneInFlight: true,
    pick(workers: readonly WorkerView[]): WorkerView | undefined {
      const n = workers.length;
      if (n <= 1) return workers[0];
      const i = draw(n);
      let j = draw(n - 1);
      if (j >= i) j++;
      const a = workers[i]!;
      const b = workers[j]!;
      if (a.inFlight !== b.inFlight) return a.inFlight < b.inFlight ? a : b;
      // Compare connections / weight without dividing (weights are positive).
      const la = a.connections * (b.weight > 0 ? b.weight : 1);
      const lb = b.connections * (a.weight > 0 ? a.weight : 1);
      if (la !== lb) return la < lb ? a : b;
      return b.eventLoopDelay < a.eventLoopDelay ? b : a;
    },
  };
}
