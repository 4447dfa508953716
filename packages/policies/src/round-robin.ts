import type { PrimaryPolicy, WorkerView } from './types.js';

/**
 * Hands connections to the ready workers in turn, by ascending id. Fair in count, blind to load:
 * choose it when requests cost about the same (the `node:cluster` default, without its one
 * connection in flight per worker limit). A worker that joins takes its turn in id order; one that
 * leaves is skipped, so every ready worker gets one connection per cycle.
 */
export function roundRobin(): PrimaryPolicy {
  // The cursor is the id of the last worker picked, not an index: indexes shift when the list
  // changes, ids do not, so a change of the list never makes a worker lose or gain a turn.
  let lastId = -1;
  return {
    mode: 'primary',
    name: 'round-robin',
    pick(workers: readonly WorkerView[]): WorkerView | undefined {
      const n = workers.length;
      if (n === 0) return undefined;
      let chosen = workers[0]!;
      for (let i = 0; i < n; i++) {
        const w = workers[i]!;
        if (w.id > lastId) {
          chosen = w;
          break;
        }
      }
      lastId = chosen.id;
      return chosen;
    },
  };
}
