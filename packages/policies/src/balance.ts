/**
 * The decisions of the balanced shared mode (`balancedShared()`), pure: who accepts on the shared
 * listening socket, at which limit of open connections, and when to look again. The primary's
 * steering (`@handoff/orchestrator`'s `steering.ts`) keeps one record per worker, feeds these
 * functions its reports, pongs and ticks, and carries out what they answer; it owns the timer.
 *
 * How the mode works: a worker that reaches its limit (the fair share plus a tolerance) closes its
 * copy of the listening socket, and is re-armed once it is below it again. Work-conserving: while a
 * worker is paused, the primary probes the armed ones (a `ping`); when every armed one leaves its
 * probe unanswered for `busyAfter` ms (busy running code), the paused ones free to accept are lent
 * a little over their limit, and the loans are called back as soon as one of the busy answers.
 */
import type { BalanceSettings } from './types.js';

/**
 * How long a paused worker stays paused at least, in ms, unless every worker is (or every armed one
 * is busy): under churn the counts wobble around the fair share many times a second, and each re-arm
 * costs a handle sent and a listen; this bounds re-arms to a few dozen per second per worker.
 */
export const MIN_PAUSE_MS = 20;

/** The most connections a worker may hold above its share through the tolerance (slack adds to it). */
export const MAX_EXCESS = 8;

/**
 * A `busyAfter` for apps with CPU-heavy requests on long-lived connections (short-lived ones are not
 * steered, see `turnover.ts`): longer than a turn of a loaded event loop that serves keep-alive
 * requests (well under a millisecond here), shorter than most CPU-heavy requests. Not the default
 * (0, off): on a loaded machine every worker answers a probe late in a burst of new connections, and the loans then spread it past the tolerance
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

/**
 * The limit a worker is told while the steering lets go (short-lived connections, see
 * `turnover.ts`): one it never reaches, so it never pauses and the kernel alone spreads the
 * connections, as in mode `shared`. A whole number, so the wire's `limit` carries it as any other.
 */
export const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * The moves that let go of a pool whose connections are short-lived (`shortLived`, `turnover.ts`):
 * every paused worker re-armed and every armed one told {@link NO_LIMIT}, unless it was already;
 * loans end (none is needed with no limit). Pure; once carried out, it asks for nothing more.
 */
export function release(pool: readonly Standing[]): Move[] {
  const moves: Move[] = [];
  for (let i = 0; i < pool.length; i++) {
    const w = pool[i]!;
    if (w.pausedAt !== undefined) moves.push({ kind: 'rearm', index: i, limit: NO_LIMIT, lent: false });
    else if (w.told !== NO_LIMIT || w.lent) moves.push({ kind: 'tighten', index: i, limit: NO_LIMIT });
  }
  return moves;
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
  /** Tell the armed worker `index` this limit: lower (a loan called back, a limit that fell), or {@link NO_LIMIT} ({@link release}). */
  | { readonly kind: 'tighten'; readonly index: number; readonly limit: number };

/** What the steering remembers of one worker between two decisions, as {@link standing} and {@link probeDue} read it. */
export interface SteeringRecord {
  /** When it paused (ms), or undefined while it accepts. */
  readonly pausedAt: number | undefined;
  /** The limit it was last told while it accepts, if any. */
  readonly told: number | undefined;
  /** It accepts over its limit on a loan. */
  readonly lent: boolean;
  /** When its unanswered probe was sent (ms), or undefined when none is in flight. */
  readonly probeSentAt: number | undefined;
  /** When it was last probed (ms); `-Infinity`: not since the last pause. */
  readonly probedAt: number;
  /** When it last answered a probe within `busyAfter` ms; `-Infinity`: not lately. */
  readonly prompt: number;
  /** When a loan of its was called back having taken nothing (ms); `-Infinity`: never. */
  readonly unused: number;
}

/** The moment a decision is taken, and the pool's pace of probes then. */
export interface SteeringClock {
  /** Now, in ms. */
  readonly now: number;
  /** The settings' `busyAfter` (0: probes and loans off). */
  readonly busyAfter: number;
  /** The probe interval now: {@link probeInterval}. */
  readonly interval: number;
  /** When a worker last paused (ms), `-Infinity` if none did. */
  readonly lastPause: number;
}

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
 * moves, at most one per worker. In order:
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

/**
 * How often each worker is probed, in ms: every {@link PRESSURE_PROBE_MS} (at least `busyAfter`)
 * while connections arrive (a worker paused less than {@link PRESSURE_MS} ago) or a loan is out,
 * else every {@link QUIET_PROBE_MS}.
 */
export function probeInterval(busyAfter: number, loanOut: boolean, sinceLastPause: number): number {
  return loanOut || sinceLastPause < PRESSURE_MS ? Math.max(busyAfter, PRESSURE_PROBE_MS) : QUIET_PROBE_MS;
}

/**
 * A worker's standing for {@link decide}, from what the steering remembers of it. Busy: its probe
 * has been unanswered for `busyAfter` ms. Idle: it answered promptly since it paused (a worker that
 * just used up a loan is busy with what it took until it answers again), within the last two probe
 * intervals, with nothing overdue since; and no loan of its was called back unused since the last
 * pause (where no connections arrive, lending again would only cost re-arms).
 */
export function standing(record: SteeringRecord, connections: number, clock: SteeringClock): Standing {
  const { now, busyAfter } = clock;
  const busy = record.probeSentAt !== undefined && now - record.probeSentAt >= busyAfter;
  const fresh = 2 * clock.interval + busyAfter;
  const idle = !busy && now - record.prompt <= fresh && (record.pausedAt === undefined || record.prompt > record.pausedAt) && !(record.unused >= clock.lastPause);
  return { connections, pausedAt: record.pausedAt, lent: record.lent, busy, idle, told: record.told };
}

/**
 * When a worker's probe is due: `0` to probe it now; else in how many ms to look again (its probe in
 * flight turns overdue, +1 because clocks have whole ms; or its interval since the last one ends);
 * `undefined` when its probe is already overdue: then its answer, not time, changes anything.
 */
export function probeDue(record: SteeringRecord, clock: SteeringClock): number | undefined {
  const { now } = clock;
  if (record.probeSentAt !== undefined) {
    const due = record.probeSentAt + clock.busyAfter + 1 - now;
    return due > 0 ? due : undefined;
  }
  return now - record.probedAt < clock.interval ? record.probedAt + clock.interval - now : 0;
}
