import type { PrimaryPolicy, WorkerView } from './types.js';

/**
 * Hands each connection to the worker with the fewest connections in flight (sent, not yet taken:
 * a worker busy running code takes none), then the fewest open connections for its weight
 * (`connections / weight`); among equals, the next one after the last pick in id order, so an idle
 * pool is still served in turn. Choose it when connections live long or unevenly (keep-alive,
 * WebSockets, streaming, uploads): it balances what is open now, which round-robin ignores, and it
 * steers new connections away from a worker stuck in a CPU-heavy request at once, without waiting
 * for a load report. It counts connections, not their cost: a worker with few but expensive
 * connections that is between two of them still gets more (`powerOfTwoChoices()` has the same
 * blind spot; weigh workers, or write a latency-aware policy).
 * Cost: one pass over the ready workers per connection.
 */
export function leastConnections(): PrimaryPolicy {
  let lastId = -1;
  return {
    mode: 'primary',
    name: 'least-connections',
    oneInFlight: true,
    pick(workers: readonly WorkerView[]): WorkerView | undefined {
      const n = workers.length;
      if (n === 0) return undefined;
      // Start after the last pick, so ties rotate instead of piling on the lowest id.
      let start = 0;
      while (start < n && workers[start]!.id <= lastId) start++;
      if (start === n) start = 0;
      let best = workers[start]!;
      let bestInFlight = best.inFlight;
      let bestLoad = best.connections / (best.weight > 0 ? best.weight : 1);
      for (let k = 1; k < n; k++) {
        let i = start + k;
        if (i >= n) i -= n;
        const w = workers[i]!;
        const inFlight = w.inFlight;
        if (inFlight > bestInFlight) continue;
        const load = w.connections / (w.weight > 0 ? w.weight : 1);
        if (inFlight < bestInFlight || load < bestLoad) {
          best = w;
          bestInFlight = inFlight;
          bestLoad = load;
        }
      }
      lastId = best.id;
      return best;
    },
  };
}
