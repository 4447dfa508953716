// The policy that docs/writing-a-policy.md builds, exactly as the guide writes it, run through the
// kit as a contributor would. Keep the two in step: the guide quotes this file.
import { describe, expect, it } from 'vitest';
import { roundRobin, type PrimaryPolicy, type WorkerView } from '@handoff/policies';
import { runConformance, simulate } from '@handoff/policies/testkit';

// --- the policy (docs/writing-a-policy.md, step 2) ---

/** Options of {@link leastEwmaDelay}. */
export interface LeastEwmaDelayOptions {
  /** Weight of the newest report in the average, in (0, 1] (default 0.3). */
  readonly alpha?: number;
  /** Source of uniform numbers in [0, 1), for ties (default Math.random). */
  readonly random?: () => number;
}

/**
 * Sends each connection to the worker whose event loop has lately been the least delayed, for the
 * connections it already holds: score = EWMA(eventLoopDelay) * (connections + 1) / weight.
 * Choose it when request costs vary a lot and a slow worker should be left alone until it recovers.
 */
export function leastEwmaDelay(options: LeastEwmaDelayOptions = {}): PrimaryPolicy {
  const alpha = options.alpha ?? 0.3;
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`leastEwmaDelay(): alpha must be in (0, 1], got ${alpha}`);
  const random = options.random ?? Math.random;
  const ewma = new Map<number, number>(); // by worker id

  return {
    mode: 'primary',
    name: 'least-ewma-delay',
    // It reads eventLoopDelay and connections: ask for every report, not ones coalesced over 10 ms.
    readsLoad: true,
    join(worker) {
      ewma.set(worker.id, worker.eventLoopDelay);
    },
    leave(worker) {
      ewma.delete(worker.id);
    },
    pick(workers: readonly WorkerView[]): WorkerView | undefined {
      let best: WorkerView | undefined;
      let bestScore = Infinity;
      let ties = 0;
      for (const w of workers) {
        const previous = ewma.get(w.id) ?? w.eventLoopDelay;
        const smoothed = previous + alpha * (w.eventLoopDelay - previous);
        ewma.set(w.id, smoothed);
        // +1 ms so that idle workers still compare by their open connections.
        const score = ((smoothed + 1) * (w.connections + 1)) / (w.weight > 0 ? w.weight : 1);
        if (score < bestScore) {
          best = w;
          bestScore = score;
          ties = 1;
        } else if (score === bestScore && random() * ++ties < 1) {
          best = w; // reservoir sampling: each tied worker is equally likely
        }
      }
      return best;
    },
  };
}

// --- the tests (docs/writing-a-policy.md, steps 3 and 4) ---

describe('leastEwmaDelay, a third-party policy', () => {
  it('passes the conformance suite', () => {
    const report = runConformance(({ random }) => leastEwmaDelay({ random }), { budgetNs: 100_000 });
    expect(report.checks.every((c) => c.ok)).toBe(true);
  });

  it('leaves a slowed worker alone, where round-robin keeps feeding it', () => {
    const workload = {
      workers: [{}, {}, {}, { speed: 0.25 }],
      arrivalRate: 1500,
      connections: 20_000,
      requestCost: 1,
      seed: 42,
    };
    const mine = simulate(leastEwmaDelay({ random: () => 0.5 }), workload);
    const rr = simulate(roundRobin(), workload);
    expect(mine.share[3]!).toBeLessThan(rr.share[3]! / 2);
    expect(mine.p99).toBeLessThan(rr.p99);
  });
});
