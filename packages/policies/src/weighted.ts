import { invalidOption } from './errors.js';
import type { PrimaryPolicy, WorkerView } from './types.js';

/** Options of {@link weighted}. */
export interface WeightedOptions {
  /**
   * Relative capacity by slot: `weights[k]` is the weight of the worker in slot `k` (the k-th
   * worker started, and every replacement of it). Positive finite numbers. A worker whose slot has
   * no entry uses its own `weight` (1 unless the orchestrator says otherwise).
   */
  readonly weights: readonly number[];
}

/**
 * Smooth weighted round-robin, as nginx does it: each pick adds every worker's weight to its
 * running score, takes the highest score, and subtracts the total from the winner. Over any window
 * of `sum(weights)` picks each worker gets exactly its weight's share, interleaved rather than in
 * runs (weights 5, 1, 1 give `a a b a c a a`, not `a a a a a b c`). Choose it when workers differ in
 * capacity on purpose (pinned to cores of different speed, a canary that should take 10%). Blind
 * to load: a slowed worker keeps its share.
 * Cost: one pass over the ready workers per connection.
 */
export function weighted(options: WeightedOptions): PrimaryPolicy {
  const weights = options?.weights;
  if (!Array.isArray(weights) || weights.length === 0) throw invalidOption('weighted', 'weights', 'a non-empty array of positive numbers (by slot)', weights);
  for (const w of weights) {
    if (typeof w !== 'number' || !Number.isFinite(w) || w <= 0) throw invalidOption('weighted', 'weights', 'a non-empty array of positive finite numbers (by slot)', weights);
  }
  const bySlot: readonly number[] = [...weights];
  const weightOf = (w: WorkerView): number => {
    const s = bySlot[w.slot];
    return s !== undefined ? s : w.weight > 0 ? w.weight : 1;
  };
  // Running scores, aligned with the last view seen; `scores` keeps them by id across changes.
  const scores = new Map<number, number>();
  let ids = new Float64Array(0);
  let current = new Float64Array(0);
  let seen: readonly WorkerView[] | undefined;

  const realign = (workers: readonly WorkerView[]): void => {
    for (let i = 0; i < ids.length; i++) scores.set(ids[i]!, current[i]!);
    const n = workers.length;
    ids = new Float64Array(n);
    current = new Float64Array(n);
    const keep = new Set<number>();
    for (let i = 0; i < n; i++) {
      const id = workers[i]!.id;
      ids[i] = id;
      current[i] = scores.get(id) ?? 0;
      keep.add(id);
    }
    for (const id of scores.keys()) if (!keep.has(id)) scores.delete(id);
    seen = workers;
  };

  const pick = (workers: readonly WorkerView[]): WorkerView | undefined => {
    const n = workers.length;
    if (n === 0) return undefined;
    if (workers !== seen || ids.length !== n) realign(workers);
    let total = 0;
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      const w = workers[i]!;
      if (ids[i] !== w.id) {
        // The same array was edited in place: undo this pass, realign by id, and start again.
        for (let j = 0; j < i; j++) current[j] = current[j]! - weightOf(workers[j]!);
        realign(workers);
        return pick(workers);
      }
      const weight = weightOf(w);
      total += weight;
      const score = current[i]! + weight;
      current[i] = score;
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    current[best] = current[best]! - total;
    return workers[best];
  };

  return {
    mode: 'primary',
    name: 'weighted',
    pick,
    leave(worker: WorkerView): void {
      scores.delete(worker.id);
    },
  };
}
