/**
 * Mode `shared` with balance (`balancedShared()`): every worker accepts on the one shared listening
 * socket, so no connection costs an IPC message, yet no worker holds much more than its fair share.
 *
 * How: each worker has a limit of open connections. A worker that reaches it closes its copy of the
 * listening socket (the socket itself stays open in the primary and the other workers, and what
 * waits in its accept queue stays there), so the kernel wakes only the others; it says so in its
 * next `load` report. The primary re-arms it (sends the socket again, with a fresh limit) as soon as
 * it is below the limit again. The limit is the fair share of all open connections plus a tolerance
 * (and an optional slack), so the workers can never all be paused at once for longer than a
 * report's round trip: the least loaded one is always below it.
 *
 * Pure bookkeeping: the primary feeds it reports and it says whom to re-arm or tighten.
 */

/** The balance settings of a shared policy. */
export interface BalanceSettings {
  /** How far above the fair share a worker may go, as a fraction (0.05: 5 %). */
  readonly tolerance: number;
  /** Connections a worker may hold above its share besides the tolerance (0 by default). */
  readonly slack: number;
}

/**
 * How long a paused worker stays paused at least, in ms, unless every worker is: under churn the
 * counts wobble around the fair share many times a second, and each re-arm costs a handle sent and
 * a listen; this bounds re-arms to a few dozen per second per worker.
 */
export const MIN_PAUSE_MS = 20;

/** The most connections a worker may hold above its share through the tolerance (slack adds to it). */
export const MAX_EXCESS = 8;

/** What the steering needs to know of a worker. */
export interface SteeredWorker {
  readonly id: number;
  /** Open connections, as last reported. */
  readonly connections: number;
}

/** What the steering asks the primary to do. */
export interface SteeringActions<W extends SteeredWorker> {
  /** Send `worker` the listening socket(s) again, with this limit. */
  rearm(worker: W, limit: number): void;
  /** Tell an armed `worker` its lower limit. */
  tighten(worker: W, limit: number): void;
}

/** Keeps every worker's share of open connections near the fair share, without per-connection IPC. */
export class AcceptSteering<W extends SteeredWorker> {
  /** Paused workers, with when they paused (ms). */
  private readonly paused = new Map<W, number>();
  /** The limit each armed worker was last told. */
  private readonly told = new Map<W, number>();

  constructor(
    private readonly settings: BalanceSettings,
    private readonly actions: SteeringActions<W>,
  ) {}

  /** The limit for a pool: the fair share of what is open now, plus the tolerance and the slack. */
  limit(workers: readonly W[]): number {
    let open = 0;
    for (const w of workers) open += w.connections;
    const n = Math.max(1, workers.length);
    const share = open / n;
    // The tolerance is a fraction of the share, but at most MAX_EXCESS connections: with thousands
    // of idle connections open, 5 % would let the few busy ones pile on one worker.
    const excess = Math.min(share * this.settings.tolerance, MAX_EXCESS);
    // At least 1, and with a tolerance above 0 the least loaded worker is always below the limit:
    // the pool can never stay paused as a whole.
    return Math.max(1, Math.ceil(share + excess) + this.settings.slack);
  }

  /** The limit to give a worker joining `workers` (it is armed from the start). */
  armed(worker: W, workers: readonly W[]): number {
    const limit = this.limit(workers);
    this.told.set(worker, limit);
    return limit;
  }

  /** True while `worker` is paused (its socket copy closed) and not yet re-armed. */
  isPaused(worker: W): boolean {
    return this.paused.has(worker);
  }

  /**
   * A worker reported its load. `workers` are the ready ones (the report's author included, when
   * ready). Re-arms every paused worker that is now below the limit, and tightens armed workers
   * whose limit fell.
   */
  report(worker: W, paused: boolean, workers: readonly W[], now = Date.now()): void {
    if (paused && !this.paused.has(worker)) {
      this.paused.set(worker, now);
      this.told.delete(worker);
    }
    this.rebalance(workers, now);
  }

  /** The pool changed (a worker left or joined): re-arms and tightens as {@link report} does. */
  rebalance(workers: readonly W[], now = Date.now()): void {
    const limit = this.limit(workers);
    // A paused worker is re-armed once it is below the limit and has rested MIN_PAUSE_MS: under
    // churn the counts wobble around the fair share, and each re-arm costs a handle sent.
    let armed = 0;
    let leastLoaded: W | undefined;
    for (const w of workers) {
      const pausedAt = this.paused.get(w);
      if (pausedAt !== undefined) {
        const below = w.connections < limit;
        if (!below || now - pausedAt < MIN_PAUSE_MS) {
          if (below && (leastLoaded === undefined || w.connections < leastLoaded.connections)) leastLoaded = w;
          continue;
        }
        this.rearm(w, limit);
      }
      armed++;
      const told = this.told.get(w);
      // Only tightening needs a message (a limit too low corrects itself through a pause), and only
      // a clear fall: a limit that wobbles with every closed connection would cost a message each.
      if (told !== undefined && told > limit + Math.max(this.settings.slack, Math.ceil(limit / 4))) {
        this.told.set(w, limit);
        this.actions.tighten(w, limit);
      }
    }
    // Someone must always accept: with every worker paused, the least loaded one goes back to work
    // (one exists below the limit, see `limit()`).
    if (armed === 0 && leastLoaded !== undefined) this.rearm(leastLoaded, limit);
  }

  private rearm(worker: W, limit: number): void {
    this.paused.delete(worker);
    this.told.set(worker, limit);
    this.actions.rearm(worker, limit);
  }

  /** `worker` is no longer in the pool (draining, exited). */
  leave(worker: W): void {
    this.paused.delete(worker);
    this.told.delete(worker);
  }
}
