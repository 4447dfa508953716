/**
 * Whether the balanced shared mode steers at all: the pool's connections' mean lifetime, measured by
 * Little's law from the closes the workers report. Pure. Steering pays only for long-lived
 * connections: a pause lasts at least {@link MIN_PAUSE_MS}, and connections that live less than a
 * few pauses all turn over while one lasts, so pausing a worker only sends every new connection to
 * the others; then the steering lets go (`release` in `balance.ts`) and the kernel spreads them.
 */
import { MIN_PAUSE_MS } from './balance.js';

/**
 * How long the steering measures the pool's turnover before it judges the connections' lifetime,
 * in ms ({@link turnover}): several load reports of every worker under churn (they come every
 * 10 ms then), short enough to take up steering again soon after the churn stops.
 */
export const TURNOVER_WINDOW_MS = 100;

/**
 * Under this mean lifetime (ms), connections are short-lived and the steering lets go. A pause
 * lasts at least {@link MIN_PAUSE_MS}, plus a report's coalescing and a re-arm's round trip; while
 * it lasts, the other workers take every new connection, a share of about pause ÷ lifetime of all
 * the open ones. Under 5 pauses' worth that is more than the counts can be held to, and the counts
 * turn over before a re-arm: measured (2 workers, churn, pinned), the busiest took 86-93 % of the
 * requests, where the kernel alone gives it 51 %. Keep-alive connections live seconds.
 */
export const SHORT_LIVED_MS = 5 * MIN_PAUSE_MS;

/**
 * At or over this mean lifetime (ms), the connections are long-lived again and the steering takes
 * up its limits. Twice {@link SHORT_LIVED_MS}: a lifetime between the two changes nothing, so a
 * pool near the line does not switch back and forth.
 */
export const LONG_LIVED_MS = 2 * SHORT_LIVED_MS;

/** How many windows in a row must measure short-lived connections before the steering lets go. */
export const SHORT_WINDOWS = 3;

/**
 * The pool's turnover over the current window, as {@link turnover} keeps it: enough to apply
 * Little's law (mean lifetime = connection-time ÷ connections that came and went) at its end.
 */
export interface Turnover {
  /** When the window began (ms). */
  readonly since: number;
  /** Open connections in the pool when it began. */
  readonly openAtStart: number;
  /** Connections closed since it began, as the workers reported them. */
  readonly closes: number;
  /** Connection-milliseconds since it began: the open count integrated over time. */
  readonly area: number;
  /** The last observation (ms), and the pool's open connections then. */
  readonly at: number;
  readonly open: number;
  /** The mean lifetime the last whole window measured (ms); `Infinity` before one, or with no turnover. */
  readonly lifetime: number;
  /** Windows in a row that measured under {@link SHORT_LIVED_MS}; reset by one at or over {@link LONG_LIVED_MS}. */
  readonly short: number;
}

/** A pool's turnover before anything was seen: long-lived, so the steering steers. */
export function freshTurnover(now: number, open: number): Turnover {
  return { since: now, openAtStart: open, closes: 0, area: 0, at: now, open, lifetime: Number.POSITIVE_INFINITY, short: 0 };
}

/**
 * The mean lifetime of the connections that came and went over a window, in ms, by Little's law:
 * `area` (connection-ms) over the turnover, the fewer of the connections accepted and those closed.
 * The fewer, so that a transient is not taken for churn: a burst of new keep-alive connections
 * (accepted, none closed) or a pool that closes at once (closed, none accepted) turns over nothing;
 * only connections that come and go do. `Infinity` with no turnover.
 */
export function lifetimeOf(area: number, accepted: number, closed: number): number {
  const turned = Math.min(accepted, closed);
  return turned > 0 ? area / turned : Number.POSITIVE_INFINITY;
}

/**
 * The pool's turnover after an observation at `now`: `open` connections in the pool, `closed` more
 * closed since the previous one. Once {@link TURNOVER_WINDOW_MS} passed, the window ends: its
 * lifetime is measured ({@link lifetimeOf}; accepted = what is open more than at its start, plus
 * what closed) and counted as short, long or neither, and a new window begins. Pure.
 */
export function turnover(t: Turnover, open: number, closed: number, now: number): Turnover {
  const area = t.area + t.open * Math.max(0, now - t.at);
  const closes = t.closes + closed;
  if (now - t.since < TURNOVER_WINDOW_MS) return { ...t, closes, area, at: now, open };
  const lifetime = lifetimeOf(area, Math.max(0, open - t.openAtStart + closes), closes);
  const short = lifetime < SHORT_LIVED_MS ? t.short + 1 : lifetime >= LONG_LIVED_MS ? 0 : t.short;
  return { since: now, openAtStart: open, closes: 0, area: 0, at: now, open, lifetime, short };
}

/**
 * True while the pool's connections are short-lived ({@link SHORT_WINDOWS} windows in a row under
 * {@link SHORT_LIVED_MS}, none since at or over {@link LONG_LIVED_MS}): then the steering lets go
 * (`release`, in `balance.ts`) and the kernel spreads the connections, which it does evenly when they come
 * and go fast (churn); pausing a worker would only send every new one to the others.
 */
export function shortLived(t: Turnover): boolean {
  return t.short >= SHORT_WINDOWS;
}
