/**
 * Mode `shared` with balance (`balancedShared()`): every worker accepts on the one shared listening
 * socket, so no connection costs an IPC message, yet no worker holds much more than its fair share.
 *
 * How: each worker has a limit of open connections. A worker that reaches it closes its copy of the
 * listening socket (the socket itself stays open in the primary and the other workers, and what
 * waits in its accept queue stays there), so the kernel wakes only the others; it says so in its
 * next `load` report. The primary re-arms it (sends the socket again, with a fresh limit) as soon as
 * it is below the limit again, and probes and lends while a worker is paused (work conservation).
 *
 * Only while connections are long-lived: from the closes the workers report, the steering measures
 * the pool's mean connection lifetime (Little's law, `turnover`); while it is short (churn: each
 * connection gone before a paused worker would be re-armed), it lets go (`release`: every worker
 * armed with `NO_LIMIT`) and the kernel spreads the connections, as in mode `shared`.
 *
 * The decisions are `@handoff/policies`' (`fairLimit`, `decide`, `standing`, `probeDue`, `turnover`,
 * `shortLived`, `release`: pure, see `balance.ts` there); this module keeps one record per worker,
 * carries out what they answer (re-arm, tighten, probe) and owns the one timer that ticks them.
 */
import {
  decide,
  fairLimit,
  freshTurnover,
  MIN_PAUSE_MS,
  NO_LIMIT,
  probeDue,
  probeInterval,
  release,
  shortLived,
  standing,
  turnover,
  TURNOVER_WINDOW_MS,
  type BalanceSettings,
  type SteeringClock,
  type SteeringRecord,
  type Turnover,
} from '@handoff/policies';
import { debug } from './diagnostics.js';

/** What the steering needs to know of a worker. */
export interface SteeredWorker {
  readonly id: number;
  /** Open connections, as last reported. */
  readonly connections: number;
  /** Connections it reported closed since it started (the `closed` of every `load` summed): the turnover. */
  readonly closes: number;
}

/** What the steering asks the primary to do. */
export interface SteeringActions<W extends SteeredWorker> {
  /** Send `worker` the listening socket(s) again, with this limit. */
  rearm(worker: W, limit: number): void;
  /** Tell an armed `worker` its new limit: lower (a loan called back), or `NO_LIMIT` (the steering lets go). */
  tighten(worker: W, limit: number): void;
  /** Ping `worker`; its answer goes to {@link AcceptSteering.pong} with this `seq`. */
  probe?(worker: W, seq: number): void;
}

/** Everything the steering remembers of one worker: the record the decisions read, and the rest. */
interface State<W> extends SteeringRecord {
  readonly worker: W;
  pausedAt: number | undefined;
  told: number | undefined;
  lent: boolean;
  probeSentAt: number | undefined;
  probedAt: number;
  prompt: number;
  unused: number;
  /** The seq of its probe in flight (with `probeSentAt`). */
  probeSeq: number;
  /** What it held when it was lent: a loan called back with no more took nothing. */
  lentAt: number;
  /** Its `closes` when the turnover last counted them. */
  closesSeen: number;
}

/** Keeps every worker's share of open connections near the fair share, without per-connection IPC. */
export class AcceptSteering<W extends SteeredWorker> {
  /** One state per worker in the pool, by worker id. */
  private readonly states = new Map<number, State<W>>();
  private readonly busyAfter: number;
  /** Numbers each probe, so that only the answer to a worker's latest one counts (the wire's own seq is the request helper's). */
  private nextSeq = 1;
  /** When a worker last paused (ms): probes are frequent for PRESSURE_MS after. */
  private lastPause = Number.NEGATIVE_INFINITY;
  /** The delay of the tick asked for last (ms), undefined: none. */
  private wanted: number | undefined;
  /** Set by `start()`: ticks run on a timer. */
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  /** The pool's turnover, from which the connections' lifetime is judged; undefined before the first look. */
  private flow: Turnover | undefined;

  /** `pool`: the ready workers, read when the timer ticks. */
  constructor(
    private readonly settings: BalanceSettings,
    private readonly actions: SteeringActions<W>,
    private readonly pool: () => readonly W[],
  ) {
    this.busyAfter = settings.busyAfter ?? 0;
  }

  /** Ticks from now on run on a timer (unref'd), when the steering asks for one. */
  start(): void {
    this.running = true;
    if (this.wanted !== undefined) this.arm(this.wanted);
  }

  /** No more ticks: the timer is cleared (the primary closes). */
  stop(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** In how many ms the steering asked to tick last (probes, rests that end); undefined: it needs no tick. */
  get nextTick(): number | undefined {
    return this.wanted;
  }

  /** The limit for a pool: the fair share of what is open now, plus the tolerance and the slack. */
  limit(workers: readonly W[]): number {
    return fairLimit(
      workers.map((w) => w.connections),
      this.settings,
    );
  }

  /** The limit to give a worker joining `workers` (it is armed from the start); `NO_LIMIT` while the steering lets go. */
  armed(worker: W, workers: readonly W[]): number {
    const limit = this.releasing ? NO_LIMIT : this.limit(workers);
    this.state(worker).told = limit;
    return limit;
  }

  /** True while `worker` is paused (its socket copy closed) and not yet re-armed. */
  isPaused(worker: W): boolean {
    return this.states.get(worker.id)?.pausedAt !== undefined;
  }

  /** True while the connections are short-lived and the steering lets the kernel spread them (`shortLived`): every worker armed with `NO_LIMIT`, nothing steered. */
  get releasing(): boolean {
    return this.flow !== undefined && shortLived(this.flow);
  }

  /** True while `worker` accepts over its limit because the others were busy. */
  isLent(worker: W): boolean {
    return this.states.get(worker.id)?.lent === true;
  }

  /**
   * A worker reported its load. `workers` are the ready ones (the report's author included, when
   * ready). Re-arms every paused worker that is now below the limit, and tightens armed workers
   * whose limit fell.
   */
  report(worker: W, paused: boolean, workers: readonly W[], now = Date.now()): void {
    const s = this.state(worker);
    if (paused && s.pausedAt === undefined) {
      s.pausedAt = now;
      s.told = undefined;
      s.lent = false;
      this.lastPause = now;
      // Now is when a loan may be needed: probe every worker without a probe in flight at once.
      for (const other of this.states.values()) other.probedAt = Number.NEGATIVE_INFINITY;
    }
    this.rebalance(workers, now);
  }

  /** A `pong` came from `worker`: if it answers this steering's probe, the worker is not busy. */
  pong(worker: W, seq: number, workers: readonly W[], now = Date.now()): void {
    const s = this.states.get(worker.id);
    if (s === undefined || s.probeSentAt === undefined || s.probeSeq !== seq) return;
    s.prompt = now - s.probeSentAt < this.busyAfter ? now : Number.NEGATIVE_INFINITY;
    s.probeSentAt = undefined;
    // It was busy (a loan may be out on its account) or a paused one waits: decide again.
    if (this.any((x) => x.lent || x.pausedAt !== undefined)) this.rebalance(workers, now);
  }

  /** The tick the steering asked for: probes, re-arms the rested, lends or calls loans back. */
  tick(workers: readonly W[], now = Date.now()): void {
    this.rebalance(workers, now);
  }

  /** The pool changed (a worker left or joined): re-arms and tightens as {@link report} does. */
  rebalance(workers: readonly W[], now = Date.now()): void {
    const states = workers.map((w) => this.state(w));
    this.observe(states, workers, now);
    const limit = this.limit(workers);
    const clock = this.clock(now);
    const pool = states.map((s, i) => standing(s, workers[i]!.connections, clock));
    const moves = this.releasing ? release(pool) : decide(pool, limit, now, this.settings);
    for (const move of moves) {
      const s = states[move.index]!;
      const w = s.worker;
      if (move.kind === 'rearm') {
        s.pausedAt = undefined;
        s.told = move.limit;
        s.lent = move.lent;
        if (move.lent) s.lentAt = w.connections;
        this.actions.rearm(w, move.limit);
        continue;
      }
      if (s.lent) {
        if (w.connections <= s.lentAt) s.unused = now;
        // At or over the fair limit it pauses on this message: known now, and no sign that
        // connections arrive (so not a pause that probes everyone or counts as pressure).
        if (w.connections >= move.limit) {
          s.pausedAt = now;
          s.lent = false;
          s.told = undefined;
          this.actions.tighten(w, move.limit);
          continue;
        }
      }
      s.told = move.limit;
      s.lent = false;
      this.actions.tighten(w, move.limit);
    }
    this.schedule(workers, now);
  }

  /**
   * Counts the pool's closes since the last look into its turnover; at a window's end, lets go or
   * takes up steering again as the connections' lifetime says (`shortLived`). Letting go forgets
   * every pause and loan (`release` re-arms them all); taking up again leaves the workers told
   * `NO_LIMIT`, which `decide` tightens to the fair limit.
   */
  private observe(states: ReadonlyArray<State<W>>, workers: readonly W[], now: number): void {
    let open = 0;
    let closed = 0;
    for (let i = 0; i < states.length; i++) {
      const s = states[i]!;
      const w = workers[i]!;
      open += w.connections;
      closed += Math.max(0, w.closes - s.closesSeen);
      s.closesSeen = w.closes;
    }
    if (this.flow === undefined) {
      this.flow = freshTurnover(now, open);
      return;
    }
    const was = this.releasing;
    this.flow = turnover(this.flow, open, closed, now);
    if (this.releasing !== was) debug('balanced shared: mean connection lifetime %s ms, %s', Math.round(this.flow.lifetime), was ? 'long-lived: steering' : 'short-lived: the kernel spreads them');
  }

  /** `worker` is no longer in the pool (draining, exited). */
  leave(worker: W): void {
    this.states.delete(worker.id);
  }

  /**
   * While a worker is paused or on a loan, probes every worker not on a loan (one probe in flight
   * each, and at most one per interval: `probeDue`) and asks for the next tick, in time to see a
   * probe go unanswered and a paused worker's rest end. While every worker accepts, nothing (then
   * the steering costs the primary no work at all), but a tick a window while it lets go.
   */
  private schedule(workers: readonly W[], now: number): void {
    if (!this.any((s) => s.pausedAt !== undefined || s.lent)) {
      // Letting go: a tick at each window's end, so that once the churn stops (and the reports with
      // it) the steering takes up again within two windows, before a burst of keep-alive clients.
      this.wake(this.releasing && this.flow !== undefined ? Math.max(1, Math.ceil(this.flow.since + TURNOVER_WINDOW_MS - now)) : undefined);
      return;
    }
    let next = Number.POSITIVE_INFINITY;
    const limit = this.limit(workers);
    for (const s of this.states.values()) {
      if (s.pausedAt !== undefined && s.worker.connections < limit) next = Math.min(next, s.pausedAt + MIN_PAUSE_MS - now);
    }
    if (this.busyAfter > 0 && this.actions.probe !== undefined) {
      const clock = this.clock(now);
      // Every worker but those on a loan: the armed ones may be busy, the paused ones must be idle to be lent.
      for (const w of workers) {
        const s = this.state(w);
        if (s.lent) continue;
        const due = probeDue(s, clock);
        if (due === undefined) continue;
        if (due > 0) {
          next = Math.min(next, due);
          continue;
        }
        s.probeSeq = this.nextSeq++;
        s.probeSentAt = now;
        s.probedAt = now;
        this.actions.probe(w, s.probeSeq);
        next = Math.min(next, this.busyAfter + 1);
      }
    }
    this.wake(next === Number.POSITIVE_INFINITY ? undefined : Math.max(1, Math.ceil(next)));
  }

  /** The moment `now` as the decisions see it: the probe interval then, and the last pause. */
  private clock(now: number): SteeringClock {
    const interval = probeInterval(
      this.busyAfter,
      this.any((s) => s.lent),
      now - this.lastPause,
    );
    return { now, busyAfter: this.busyAfter, interval, lastPause: this.lastPause };
  }

  /** Asks for a tick in `ms` (`undefined`: none); the timer runs it once started. */
  private wake(ms: number | undefined): void {
    this.wanted = ms;
    if (this.running) this.arm(ms);
  }

  /** One timer: asked on every report, a timer already due as soon is kept (its tick asks again). */
  private arm(ms: number | undefined): void {
    const due = ms === undefined ? Number.POSITIVE_INFINITY : Date.now() + ms;
    if (this.timer !== undefined && this.timerDue <= due && due !== Number.POSITIVE_INFINITY) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (ms === undefined) return;
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.tick(this.pool());
    }, ms);
    // Never what keeps the primary alive: it only matters while workers serve.
    this.timer.unref();
  }

  private any(test: (s: State<W>) => boolean): boolean {
    for (const s of this.states.values()) if (test(s)) return true;
    return false;
  }

  /** `worker`'s state, made on first sight (it joined the pool). */
  private state(worker: W): State<W> {
    let s = this.states.get(worker.id);
    if (s === undefined) {
      s = {
        worker,
        pausedAt: undefined,
        told: undefined,
        lent: false,
        probeSentAt: undefined,
        probedAt: Number.NEGATIVE_INFINITY,
        prompt: Number.NEGATIVE_INFINITY,
        unused: Number.NEGATIVE_INFINITY,
        probeSeq: 0,
        lentAt: 0,
        closesSeen: worker.closes,
      };
      this.states.set(worker.id, s);
    }
    return s;
  }
}
