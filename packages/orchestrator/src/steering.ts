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
 * Work-conserving: a paused worker must not wait while the ones that accept cannot. While a worker is
 * paused, the primary probes the armed ones (a `ping`, answered from the worker's event loop); one
 * that leaves it unanswered for `busyAfter` ms is busy (running code, not accepting). When every
 * armed worker is busy, the paused ones that are free to accept are re-armed over their limit (a
 * small loan, renewed while the others stay busy), and the loans are called back (the fair limit told
 * again) as soon as one of those answers.
 *
 * Pure bookkeeping: the primary feeds it reports, pongs and ticks, and it says whom to re-arm,
 * tighten or probe, and when to tick next. The decision itself is {@link decide}, a pure function.
 */

/** The balance settings of a shared policy. */
export interface BalanceSettings {
  /** How far above the fair share a worker may go, as a fraction (0.05: 5 %). */
  readonly tolerance: number;
  /** Connections a worker may hold above its share besides the tolerance (0 by default). */
  readonly slack: number;
  /**
   * How long, in ms, an armed worker may leave a probe unanswered before it counts as busy and the
   * paused ones may accept over their limit; 0 or absent: never (a worker over its share waits,
   * however busy the others are). See {@link SUGGESTED_BUSY_AFTER_MS}.
   */
  readonly busyAfter?: number;
}

/**
 * How long a paused worker stays paused at least, in ms, unless every worker is (or every armed one
 * is busy): under churn the counts wobble around the fair share many times a second, and each re-arm
 * costs a handle sent and a listen; this bounds re-arms to a few dozen per second per worker.
 */
export const MIN_PAUSE_MS = 20;

/** The most connections a worker may hold above its share through the tolerance (slack adds to it). */
export const MAX_EXCESS = 8;

/**
 * A `busyAfter` for apps with CPU-heavy requests on short connections: longer than a turn of a
 * loaded event loop that serves keep-alive requests (well under a millisecond here), shorter than
 * most CPU-heavy requests. Not the default (0, off): on a loaded machine every worker answers a
 * probe late in a burst of new connections, and the loans then spread it past the tolerance
 * (measured: 36-38 of 64 on one of 2 workers, with the CPU saturated by other work).
 */
export const SUGGESTED_BUSY_AFTER_MS = 3;

/**
 * How long after a worker paused the probes stay frequent (every {@link PRESSURE_PROBE_MS}), in ms.
 * A pause means connections are arriving; later, with the counts steady (a pool of keep-alive
 * connections where one worker sits at its limit), probing every {@link QUIET_PROBE_MS} is enough
 * and costs a few messages a second.
 */
export const PRESSURE_MS = 250;

/**
 * The probe interval while connections arrive, in ms. Each pause also probes every worker at once
 * (the moment a loan may be needed), so this only catches a worker that turns busy while another is
 * already paused; more often would cost the primary a message per worker per interval.
 */
export const PRESSURE_PROBE_MS = 10;

/** The probe interval while no worker paused for {@link PRESSURE_MS}, in ms. */
export const QUIET_PROBE_MS = 100;

/** Probes' `seq` start here, far above the heartbeat's, so neither mistakes the other's pong. */
export const PROBE_SEQ_BASE = 2 ** 40;

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
  /** Tell an armed `worker` its new limit (lower, or a loan called back). */
  tighten(worker: W, limit: number): void;
  /** Ping `worker` with this `seq` (its `pong` goes to {@link AcceptSteering.pong}). */
  probe?(worker: W, seq: number): void;
  /** Call {@link AcceptSteering.tick} in `ms` ms, instead of any tick asked for before; `undefined`: no tick. */
  wake?(ms: number | undefined): void;
}

/** One ready worker as {@link decide} sees it. */
export interface Standing {
  /** Open connections, as last reported. */
  readonly connections: number;
  /** When it paused (ms), or undefined while it accepts. */
  readonly pausedAt: number | undefined;
  /** It accepts over its limit on a loan (every other armed one was busy). */
  readonly lent: boolean;
  /** It left a probe unanswered for `busyAfter` ms (its event loop is running code). */
  readonly busy: boolean;
  /** It answered its last probe within `busyAfter` ms, lately: its loop is free to accept. */
  readonly idle: boolean;
  /** The limit it was last told while it accepts, if any. */
  readonly told: number | undefined;
}

/** One thing {@link decide} asks for, by index into the pool it was given. */
export type Move =
  /** Re-arm the paused worker `index` with `limit`; `lent`: over the fair limit, while the others are busy. */
  | { readonly kind: 'rearm'; readonly index: number; readonly limit: number; readonly lent: boolean }
  /** Tell the armed worker `index` this lower limit (a loan called back, or a limit that fell). */
  | { readonly kind: 'tighten'; readonly index: number; readonly limit: number };

/** The limit for a pool: the fair share of what is open now, plus the tolerance and the slack. */
export function fairLimit(connections: readonly number[], settings: BalanceSettings): number {
  let open = 0;
  for (const c of connections) open += c;
  const share = open / Math.max(1, connections.length);
  // The tolerance is a fraction of the share, but at most MAX_EXCESS connections: with thousands
  // of idle connections open, 5 % would let the few busy ones pile on one worker.
  const excess = Math.min(share * settings.tolerance, MAX_EXCESS);
  // At least 1, and with a tolerance above 0 the least loaded worker is always below the limit:
  // the pool can never stay paused as a whole.
  return Math.max(1, Math.ceil(share + excess) + settings.slack);
}

/**
 * The limit of a loan: what the worker may hold now (the fair limit, or what it holds if more) plus
 * one tolerance's worth (at least 1, at most {@link MAX_EXCESS}). Small, so a worker mistaken for
 * busy (a burst of new connections keeps every worker slow at once) costs the spread at most that;
 * renewed each time the lent worker reaches it while the others stay busy, so a long CPU-heavy
 * request of the others does not leave connections waiting.
 */
export function loanLimit(connections: number, limit: number, settings: BalanceSettings): number {
  return Math.max(limit, connections) + Math.max(1, Math.min(MAX_EXCESS, Math.ceil(limit * settings.tolerance)));
}

/**
 * Who accepts next, given the pool and its fair `limit`. Pure: the same standings give the same
 * moves. In order:
 * 1. The others are busy (every armed worker that is not on a loan is busy): every paused worker
 *    below the limit, or idle, is re-armed on a loan ({@link loanLimit}). Otherwise every loan is
 *    called back (the fair limit told again). A paused worker at its limit that is busy too gains
 *    nothing from a loan; and where all are slow alike (a burst of new connections on a loaded
 *    machine) none at its limit is lent, so such a burst spreads nearly as strictly as without loans.
 * 2. A paused worker below the limit that rested {@link MIN_PAUSE_MS} is re-armed.
 * 3. With every worker paused, the least loaded one (below the limit, see {@link fairLimit}) is re-armed.
 * 4. An armed worker whose limit fell a lot is told the lower one.
 */
export function decide(pool: readonly Standing[], limit: number, now: number, settings: BalanceSettings): Move[] {
  const moves: Move[] = [];
  let accepting = 0;
  let othersBusy = (settings.busyAfter ?? 0) > 0;
  let steady = 0;
  for (const w of pool) {
    if (w.pausedAt !== undefined || w.lent) continue;
    steady++;
    if (!w.busy) othersBusy = false;
  }
  // No armed worker to be busy: every one is paused (rule 3) or on a loan, which then has no reason.
  if (steady === 0) othersBusy = false;
  let leastLoaded = -1;
  for (let i = 0; i < pool.length; i++) {
    const w = pool[i]!;
    if (w.pausedAt !== undefined) {
      const below = w.connections < limit;
      // A worker below the limit is spared its rest; one at it must be idle: a busy one could not use a loan.
      if (othersBusy && (below || w.idle)) {
        moves.push({ kind: 'rearm', index: i, limit: loanLimit(w.connections, limit, settings), lent: true });
        accepting++;
        continue;
      }
      // Under churn the counts wobble around the fair share, and each re-arm costs a handle sent.
      if (below && now - w.pausedAt >= MIN_PAUSE_MS) {
        moves.push({ kind: 'rearm', index: i, limit, lent: false });
        accepting++;
      } else if (below && (leastLoaded === -1 || w.connections < pool[leastLoaded]!.connections)) {
        leastLoaded = i;
      }
      continue;
    }
    accepting++;
    if (w.lent) {
      if (!othersBusy) moves.push({ kind: 'tighten', index: i, limit });
      continue;
    }
    // Only tightening needs a message (a limit too low corrects itself through a pause), and only
    // a clear fall: a limit that wobbles with every closed connection would cost a message each.
    if (w.told !== undefined && w.told > limit + Math.max(settings.slack, Math.ceil(limit / 4))) moves.push({ kind: 'tighten', index: i, limit });
  }
  // Someone must always accept: with every worker paused, the least loaded one goes back to work.
  if (accepting === 0 && leastLoaded !== -1) moves.push({ kind: 'rearm', index: leastLoaded, limit, lent: false });
  return moves;
}

/** Keeps every worker's share of open connections near the fair share, without per-connection IPC. */
export class AcceptSteering<W extends SteeredWorker> {
  /** Paused workers, with when they paused (ms). */
  private readonly paused = new Map<W, number>();
  /** The limit each armed worker was last told. */
  private readonly told = new Map<W, number>();
  /** Armed workers on a loan: over the fair limit while the others are busy. */
  private readonly lent = new Set<W>();
  /** Each worker's unanswered probe: its seq and when it was sent (ms). */
  private readonly probes = new Map<W, { readonly seq: number; readonly sentAt: number }>();
  /** When each worker was last probed (ms). */
  private readonly probedAt = new Map<W, number>();
  /** When each worker last answered a probe within `busyAfter` ms. */
  private readonly prompt = new Map<W, number>();
  /** What each lent worker held when it was lent. */
  private readonly lentAt = new Map<W, number>();
  /** When a worker's loan was called back having taken nothing (see `idle` in rebalance). */
  private readonly unused = new Map<W, number>();
  private readonly busyAfter: number;
  private nextSeq = PROBE_SEQ_BASE;
  /** When a worker last paused (ms): probes are frequent for PRESSURE_MS after. */
  private lastPause = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly settings: BalanceSettings,
    private readonly actions: SteeringActions<W>,
  ) {
    this.busyAfter = settings.busyAfter ?? 0;
  }

  /** The limit for a pool: the fair share of what is open now, plus the tolerance and the slack. */
  limit(workers: readonly W[]): number {
    return fairLimit(
      workers.map((w) => w.connections),
      this.settings,
    );
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

  /** True while `worker` accepts over its limit because the others were busy. */
  isLent(worker: W): boolean {
    return this.lent.has(worker);
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
      this.lent.delete(worker);
      this.lastPause = now;
      // Now is when a loan may be needed: probe every worker without a probe in flight at once.
      this.probedAt.clear();
    }
    this.rebalance(workers, now);
  }

  /** A `pong` came from `worker`: if it answers this steering's probe, the worker is not busy. */
  pong(worker: W, seq: number, workers: readonly W[], now = Date.now()): void {
    const probe = this.probes.get(worker);
    if (probe === undefined || probe.seq !== seq) return;
    this.probes.delete(worker);
    if (now - probe.sentAt < this.busyAfter) this.prompt.set(worker, now);
    else this.prompt.delete(worker);
    // It was busy (a loan may be out on its account) or a paused one waits: decide again.
    if (this.lent.size > 0 || this.paused.size > 0) this.rebalance(workers, now);
  }

  /** The timer the steering asked for (`wake`) fired: probes, re-arms the rested, lends or calls loans back. */
  tick(workers: readonly W[], now = Date.now()): void {
    this.rebalance(workers, now);
  }

  /** The pool changed (a worker left or joined): re-arms and tightens as {@link report} does. */
  rebalance(workers: readonly W[], now = Date.now()): void {
    const limit = this.limit(workers);
    // Idle: answered promptly since it paused (a worker that just used up a loan is busy with what
    // it took until it answers again), within the last two probe intervals, nothing overdue since.
    const fresh = 2 * this.interval(now) + this.busyAfter;
    const pool: Standing[] = workers.map((w) => {
      const probe = this.probes.get(w);
      const busy = probe !== undefined && now - probe.sentAt >= this.busyAfter;
      const pausedAt = this.paused.get(w);
      const prompt = this.prompt.get(w) ?? Number.NEGATIVE_INFINITY;
      return {
        connections: w.connections,
        pausedAt,
        lent: this.lent.has(w),
        busy,
        // A loan that took nothing is not offered again until connections arrive (someone pauses
        // by accepting): where none arrive, lending would only cost re-arms.
        idle: !busy && now - prompt <= fresh && (pausedAt === undefined || prompt > pausedAt) && !((this.unused.get(w) ?? Number.NEGATIVE_INFINITY) >= this.lastPause),
        told: this.told.get(w),
      };
    });
    for (const move of decide(pool, limit, now, this.settings)) {
      const w = workers[move.index]!;
      if (move.kind === 'rearm') {
        this.paused.delete(w);
        this.told.set(w, move.limit);
        if (move.lent) {
          this.lent.add(w);
          this.lentAt.set(w, w.connections);
        } else this.lent.delete(w);
        this.actions.rearm(w, move.limit);
      } else {
        if (this.lent.has(w)) {
          if (w.connections <= (this.lentAt.get(w) ?? 0)) this.unused.set(w, now);
          // At or over the fair limit it pauses on this message: known now, and no sign that
          // connections arrive (so not a pause that probes everyone or counts as pressure).
          if (w.connections >= move.limit) {
            this.paused.set(w, now);
            this.lent.delete(w);
            this.told.delete(w);
            this.actions.tighten(w, move.limit);
            continue;
          }
        }
        this.told.set(w, move.limit);
        this.lent.delete(w);
        this.actions.tighten(w, move.limit);
      }
    }
    this.schedule(workers, now);
  }

  /**
   * While a worker is paused or on a loan, probes every worker not on a loan (one probe in flight
   * each, and at most one per interval) and asks for the next tick: probes at each pause, every
   * PRESSURE_PROBE_MS while connections arrive (a pause in the last PRESSURE_MS, or a loan out), every
   * QUIET_PROBE_MS otherwise; ticks in time to see a probe go unanswered and a paused worker's rest end. While every
   * worker accepts, nothing: then the steering costs the primary no work at all.
   */
  private schedule(workers: readonly W[], now: number): void {
    if (this.paused.size === 0 && this.lent.size === 0) {
      this.actions.wake?.(undefined);
      return;
    }
    let next = Number.POSITIVE_INFINITY;
    const limit = this.limit(workers);
    for (const [w, pausedAt] of this.paused) {
      if (w.connections < limit) next = Math.min(next, pausedAt + MIN_PAUSE_MS - now);
    }
    if (this.busyAfter > 0 && this.actions.probe !== undefined) {
      const interval = this.interval(now);
      // Every worker but those on a loan: the armed ones may be busy, the paused ones must be idle to be lent.
      for (const w of workers) {
        if (this.lent.has(w)) continue;
        const probe = this.probes.get(w);
        if (probe !== undefined) {
          // In flight: tick when it would count as busy (+1: Date.now() has whole milliseconds);
          // once it does, its pong is what changes anything: no tick for it meanwhile.
          const due = probe.sentAt + this.busyAfter + 1 - now;
          if (due > 0) next = Math.min(next, due);
          continue;
        }
        const last = this.probedAt.get(w) ?? Number.NEGATIVE_INFINITY;
        if (now - last < interval) {
          next = Math.min(next, last + interval - now);
          continue;
        }
        const seq = this.nextSeq++;
        this.probes.set(w, { seq, sentAt: now });
        this.probedAt.set(w, now);
        this.actions.probe(w, seq);
        next = Math.min(next, this.busyAfter + 1);
      }
    }
    this.actions.wake?.(next === Number.POSITIVE_INFINITY ? undefined : Math.max(1, Math.ceil(next)));
  }

  /** How often a worker is probed: every PRESSURE_PROBE_MS while connections arrive (or a loan is out), else QUIET_PROBE_MS. */
  private interval(now: number): number {
    return this.lent.size > 0 || now - this.lastPause < PRESSURE_MS ? Math.max(this.busyAfter, PRESSURE_PROBE_MS) : QUIET_PROBE_MS;
  }

  /** `worker` is no longer in the pool (draining, exited). */
  leave(worker: W): void {
    this.paused.delete(worker);
    this.told.delete(worker);
    this.lent.delete(worker);
    this.probes.delete(worker);
    this.probedAt.delete(worker);
    this.prompt.delete(worker);
    this.lentAt.delete(worker);
    this.unused.delete(worker);
  }
}
