import { checkOptionNames, invalidOption, randomOption } from './errors.js';
import type { PrimaryPolicy, WorkerView } from './types.js';

/** Options of {@link peakEwma}. */
export interface PeakEwmaOptions {
  /**
   * Time constant of the decay, in ms (default 10,000, Finagle's and Linkerd's): once a worker's
   * event-loop delay falls, its cost falls toward it by 63 % in `decay` ms (it rises to a new peak
   * at once). Shorter: a worker that recovered gets its share back sooner, and one that is slow now
   * and then is forgotten between two slow spells. A number in [1, 600000].
   */
  readonly decay?: number;
  /** Source of uniform numbers in `[0, 1)` (default `Math.random`); pass a seeded one in tests. */
  readonly random?: () => number;
}

const OPTIONS = ['decay', 'random'];

/**
 * Added to every cost, in ms: a loop delay of 0 (an idle worker) must not make every count of
 * connections cost the same, so idle workers still compare by the connections they hold.
 */
const COST_FLOOR_MS = 1;

/** Per worker, by id: the decayed peak of its delay, and the report it was last brought up to. */
interface Cost {
  value: number;
  reportedAt: number;
}

/**
 * Peak EWMA, as Finagle's and Linkerd's balancers: each worker has a cost, its event-loop delay
 * (`eventLoopDelay`, the p99 the worker reports) smoothed by the peak rule (a new peak is taken at
 * once; after it, the cost decays toward the reported delay with time constant `decay`, measured
 * between the worker's reports, `reportedAt`), times its open connections + 1, over its weight. Two
 * random workers are drawn and the cheaper takes the connection. One in flight per worker
 * (`oneInFlight`), as `leastConnections()`: a worker busy running code gets nothing until it takes
 * the last one sent to it.
 * Choose it when one worker can be slow for a while (a noisy neighbour on its core, a GC storm, a
 * run of CPU-heavy requests, a worker paused now and then): counts see a slow worker only once
 * connections pile up on it, the peak cost keeps new ones away from it until it has been fast for
 * a while. What it reads lags: the loop delay is sampled once a second by each worker.
 * Cost: two random draws, two cost updates (an `exp`) and two products, whatever the pool size.
 */
export function peakEwma(options: PeakEwmaOptions = {}): PrimaryPolicy {
  checkOptionNames('peakEwma', options, OPTIONS);
  const decay = options.decay ?? 10_000;
  if (!(typeof decay === 'number' && decay >= 1 && decay <= 600_000)) throw invalidOption('peakEwma', 'decay', 'a number of ms in [1, 600000]', decay);
  const rand = randomOption('peakEwma', options.random);
  const costs = new Map<number, Cost>();
  const draw = (n: number): number => {
    const i = Math.floor(rand() * n);
    return i < 0 ? 0 : i >= n ? n - 1 : i;
  };

  /** Brings `w`'s cost up to its last report, and returns it times its load. */
  const score = (w: WorkerView): number => {
    const delay = w.eventLoopDelay > 0 ? w.eventLoopDelay : 0;
    let cost = costs.get(w.id);
    if (cost === undefined) {
      // A worker picked without a join (a policy used outside the orchestrator) starts at its report.
      cost = { value: delay, reportedAt: w.reportedAt };
      costs.set(w.id, cost);
    } else if (w.reportedAt !== cost.reportedAt) {
      if (delay >= cost.value) cost.value = delay;
      else {
        const elapsed = w.reportedAt > cost.reportedAt ? w.reportedAt - cost.reportedAt : 0;
        cost.value = delay + (cost.value - delay) * Math.exp(-elapsed / decay);
      }
      cost.reportedAt = w.reportedAt;
    }
    return ((cost.value + COST_FLOOR_MS) * (w.connections + 1)) / (w.weight > 0 ? w.weight : 1);
  };

  return {
    mode: 'primary',
    name: 'peak-ewma',
    oneInFlight: true,
    join(worker: WorkerView): void {
      costs.set(worker.id, { value: worker.eventLoopDelay > 0 ? worker.eventLoopDelay : 0, reportedAt: worker.reportedAt });
    },
    leave(worker: WorkerView): void {
      costs.delete(worker.id);
    },
    pick(workers: readonly WorkerView[]): WorkerView | undefined {
      const n = workers.length;
      if (n <= 1) {
        if (n === 1) score(workers[0]!);
        return workers[0];
      }
      const i = draw(n);
      let j = draw(n - 1);
      if (j >= i) j++;
      const a = workers[i]!;
      const b = workers[j]!;
      return score(b) < score(a) ? b : a;
    },
  };
}
