import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  decide,
  fairLimit,
  freshTurnover,
  lifetimeOf,
  loanLimit,
  LONG_LIVED_MS,
  MAX_EXCESS,
  NO_LIMIT,
  MIN_PAUSE_MS,
  PRESSURE_MS,
  PRESSURE_PROBE_MS,
  probeDue,
  probeInterval,
  QUIET_PROBE_MS,
  release,
  SHORT_LIVED_MS,
  SHORT_WINDOWS,
  shortLived,
  standing,
  SUGGESTED_BUSY_AFTER_MS,
  turnover,
  TURNOVER_WINDOW_MS,
  type Move,
  type Standing,
  type SteeringClock,
  type SteeringRecord,
  type Turnover,
} from '@handoff/policies';

/** A pool for `decide`: each worker paused (since `pausedAt`), lent, busy, as fast-check draws it. */
const standingArb = fc.record({
  connections: fc.nat({ max: 200 }),
  pausedAt: fc.option(fc.nat({ max: 1000 }), { nil: undefined }),
  lent: fc.boolean(),
  busy: fc.boolean(),
  idle: fc.boolean(),
  told: fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined }),
});
/** A paused worker is not lent (the steering forgets a loan when it pauses); busy and idle exclude each other. */
const pool = fc.array(standingArb, { minLength: 1, maxLength: 12 }).map((ws) => ws.map((w) => ({ ...w, lent: w.pausedAt === undefined && w.lent, idle: w.idle && !w.busy })));
const settings = { tolerance: 0.05, slack: 0, busyAfter: SUGGESTED_BUSY_AFTER_MS };
const settingsArb = fc.record({ tolerance: fc.double({ min: 0.001, max: 10, noNaN: true }), slack: fc.nat({ max: 16 }) });
const NOW = 1000;

/** Who accepts after `moves`: the armed, and the paused ones re-armed. */
function accepting(ws: readonly Standing[], moves: readonly Move[]): Set<number> {
  const set = new Set<number>();
  ws.forEach((w, i) => w.pausedAt === undefined && set.add(i));
  for (const m of moves) if (m.kind === 'rearm') set.add(m.index);
  return set;
}

describe('fairLimit', () => {
  it('is the share plus 5 %, at least 1', () => {
    expect(fairLimit([40, 40], { tolerance: 0.05, slack: 0 })).toBe(42);
    expect(fairLimit([0, 0, 0], { tolerance: 0.05, slack: 0 })).toBe(1);
    expect(fairLimit([], { tolerance: 0.05, slack: 0 })).toBe(1);
    expect(fairLimit([10, 0], { tolerance: 0.05, slack: 3 })).toBe(9);
  });

  it('keeps the excess over the share to a few connections when thousands are open (idle ones dominate the count)', () => {
    expect(fairLimit([2500, 2500], { tolerance: 0.05, slack: 0 })).toBe(2500 + MAX_EXCESS);
  });

  it('leaves the least loaded worker below it, within MAX_EXCESS + slack of the share (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 64 }), settingsArb, (cs, s) => {
        const limit = fairLimit(cs, s);
        const share = cs.reduce((a, b) => a + b, 0) / cs.length;
        expect(Number.isInteger(limit) && limit >= 1).toBe(true);
        expect(Math.min(...cs)).toBeLessThan(limit);
        expect(limit).toBeGreaterThanOrEqual(share);
        expect(limit).toBeLessThanOrEqual(Math.max(1, Math.ceil(share + MAX_EXCESS) + s.slack));
      }),
    );
  });
});

describe('loanLimit', () => {
  it('lends one tolerance over what the worker may hold: at least 1, at most MAX_EXCESS', () => {
    expect(loanLimit(3, 3, { tolerance: 0.05, slack: 0 })).toBe(4);
    expect(loanLimit(10, 3, { tolerance: 0.05, slack: 0 })).toBe(11);
    expect(loanLimit(1000, 1000, { tolerance: 0.05, slack: 0 })).toBe(1000 + MAX_EXCESS);
  });

  it('is above what the worker holds and the fair limit, by 1..MAX_EXCESS (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), settingsArb, (held, limit, s) => {
        const loan = loanLimit(held, limit, s);
        const base = Math.max(held, limit);
        expect(loan - base).toBeGreaterThanOrEqual(1);
        expect(loan - base).toBeLessThanOrEqual(MAX_EXCESS);
      }),
    );
  });
});

describe('decide', () => {
  const at = (connections: number, over: Partial<Standing> = {}): Standing => ({ connections, pausedAt: undefined, lent: false, busy: false, idle: false, told: undefined, ...over });

  it('re-arms a paused worker below the limit only once it rested MIN_PAUSE_MS, and tightens a limit that fell a lot', () => {
    const ws = [at(20, { pausedAt: NOW - 5 }), at(20, { told: 42 })];
    expect(decide(ws, 21, NOW, settings)).toEqual([{ kind: 'tighten', index: 1, limit: 21 }]);
    const rested = [at(20, { pausedAt: NOW - MIN_PAUSE_MS }), at(20, { told: 21 })];
    expect(decide(rested, 21, NOW, settings)).toEqual([{ kind: 'rearm', index: 0, limit: 21, lent: false }]);
  });

  it('with every worker paused, re-arms the least loaded one at once', () => {
    const ws = [at(5, { pausedAt: NOW }), at(3, { pausedAt: NOW }), at(4, { pausedAt: NOW })];
    expect(decide(ws, 5, NOW, settings)).toEqual([{ kind: 'rearm', index: 1, limit: 5, lent: false }]);
  });

  it('lends to every paused worker free to accept when every armed one not on a loan is busy, a bounded loan (property)', () => {
    fc.assert(
      fc.property(pool, (ws) => {
        const steady = ws.filter((w) => w.pausedAt === undefined && !w.lent);
        fc.pre(steady.length > 0 && steady.every((w) => w.busy) && ws.some((w) => w.pausedAt !== undefined));
        const limit = fairLimit(
          ws.map((w) => w.connections),
          settings,
        );
        const moves = decide(ws, limit, NOW, settings);
        ws.forEach((w, i) => {
          if (w.pausedAt === undefined) return;
          const m = moves.find((x): x is Extract<Move, { kind: 'rearm' }> => x.kind === 'rearm' && x.index === i);
          if (w.connections >= limit && !w.idle) {
            // At its limit and slow too: a loan would not help it, and would cost the spread.
            if (m !== undefined) expect(m.lent).toBe(false);
            return;
          }
          expect(m).toMatchObject({ kind: 'rearm', lent: true });
          // Over what it holds, so it can take connections now; by at most MAX_EXCESS.
          expect(m!.limit).toBeGreaterThan(w.connections);
          expect(m!.limit).toBeLessThanOrEqual(Math.max(limit, w.connections) + MAX_EXCESS);
        });
      }),
    );
  });

  it('lends nothing while an armed worker answers, and calls every loan back (property)', () => {
    fc.assert(
      fc.property(pool, (ws) => {
        fc.pre(ws.some((w) => w.pausedAt === undefined && !w.lent && !w.busy));
        const limit = fairLimit(
          ws.map((w) => w.connections),
          settings,
        );
        const moves = decide(ws, limit, NOW, settings);
        for (const m of moves) {
          if (m.kind === 'rearm') expect(m).toEqual({ kind: 'rearm', index: m.index, limit, lent: false });
          // A paused worker over the limit is re-armed only to keep someone accepting: never here.
          if (m.kind === 'rearm') expect(ws[m.index]!.connections).toBeLessThan(limit);
        }
        ws.forEach((w, i) => {
          if (w.lent) expect(moves).toContainEqual({ kind: 'tighten', index: i, limit });
        });
      }),
    );
  });

  it('always leaves someone accepting, and only positive whole limits, one move per worker at most (property)', () => {
    fc.assert(
      fc.property(pool, fc.constantFrom(0, 1, 4, 50), (ws, busyAfter) => {
        const s = { ...settings, busyAfter };
        const limit = fairLimit(
          ws.map((w) => w.connections),
          s,
        );
        const moves = decide(ws, limit, NOW, s);
        expect(accepting(ws, moves).size).toBeGreaterThan(0);
        for (const m of moves) expect(Number.isInteger(m.limit) && m.limit >= 1).toBe(true);
        expect(new Set(moves.map((m) => m.index)).size).toBe(moves.length);
      }),
    );
  });

  it('re-arms only paused workers and tightens only armed ones (property)', () => {
    fc.assert(
      fc.property(pool, fc.constantFrom(0, 3), (ws, busyAfter) => {
        const s = { ...settings, busyAfter };
        const limit = fairLimit(
          ws.map((w) => w.connections),
          s,
        );
        for (const m of decide(ws, limit, NOW, s)) {
          if (m.kind === 'rearm') expect(ws[m.index]!.pausedAt).not.toBeUndefined();
          else expect(ws[m.index]!.pausedAt).toBeUndefined();
        }
      }),
    );
  });

  it('is pure: the same standings give the same moves (property)', () => {
    fc.assert(
      fc.property(pool, fc.nat({ max: 2000 }), (ws, now) => {
        const limit = fairLimit(
          ws.map((w) => w.connections),
          settings,
        );
        expect(decide(ws, limit, now, settings)).toEqual(decide(structuredClone(ws), limit, now, settings));
      }),
    );
  });

  it('never lends with busyAfter 0 (the strict spread) (property)', () => {
    fc.assert(
      fc.property(pool, (ws) => {
        const s = { ...settings, busyAfter: 0 };
        const limit = fairLimit(
          ws.map((w) => w.connections),
          s,
        );
        for (const m of decide(ws, limit, NOW, s)) if (m.kind === 'rearm') expect(m.lent).toBe(false);
      }),
    );
  });
});

describe('probeInterval', () => {
  it('probes often while connections arrive or a loan is out, seldom once the counts are steady', () => {
    expect(probeInterval(3, false, 0)).toBe(PRESSURE_PROBE_MS);
    expect(probeInterval(3, false, PRESSURE_MS - 1)).toBe(PRESSURE_PROBE_MS);
    expect(probeInterval(3, false, PRESSURE_MS)).toBe(QUIET_PROBE_MS);
    expect(probeInterval(3, true, 10_000)).toBe(PRESSURE_PROBE_MS);
    expect(probeInterval(3, false, Number.POSITIVE_INFINITY)).toBe(QUIET_PROBE_MS);
    // Never more often than a probe can turn overdue.
    expect(probeInterval(50, true, 0)).toBe(50);
  });
});

describe('standing and probeDue', () => {
  const record = (over: Partial<SteeringRecord> = {}): SteeringRecord => ({
    pausedAt: undefined,
    told: undefined,
    lent: false,
    probeSentAt: undefined,
    probedAt: Number.NEGATIVE_INFINITY,
    prompt: Number.NEGATIVE_INFINITY,
    unused: Number.NEGATIVE_INFINITY,
    ...over,
  });
  const clock = (now: number, over: Partial<SteeringClock> = {}): SteeringClock => ({ now, busyAfter: 3, interval: PRESSURE_PROBE_MS, lastPause: 0, ...over });

  it('a probe unanswered for busyAfter ms makes a worker busy, not idle', () => {
    expect(standing(record({ probeSentAt: 10 }), 4, clock(12))).toMatchObject({ connections: 4, busy: false });
    expect(standing(record({ probeSentAt: 10 }), 4, clock(13))).toMatchObject({ busy: true, idle: false });
  });

  it('idle: answered promptly since it paused, lately, and no loan of its went unused since the last pause', () => {
    expect(standing(record({ prompt: 50 }), 1, clock(55)).idle).toBe(true);
    // Too long ago: two intervals and busyAfter.
    expect(standing(record({ prompt: 50 }), 1, clock(50 + 2 * PRESSURE_PROBE_MS + 4)).idle).toBe(false);
    // Answered before it paused: it may be busy with what it took.
    expect(standing(record({ prompt: 50, pausedAt: 52 }), 1, clock(55)).idle).toBe(false);
    expect(standing(record({ prompt: 53, pausedAt: 52 }), 1, clock(55)).idle).toBe(true);
    // A loan called back unused since the last pause.
    expect(standing(record({ prompt: 53, unused: 40 }), 1, clock(55, { lastPause: 30 })).idle).toBe(false);
    expect(standing(record({ prompt: 53, unused: 20 }), 1, clock(55, { lastPause: 30 })).idle).toBe(true);
  });

  it('copies what decide needs from the record (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.nat(), { nil: undefined }), fc.option(fc.nat(), { nil: undefined }), fc.boolean(), fc.nat(), (pausedAt, told, lent, connections) => {
        const s = standing(record({ pausedAt, told, lent }), connections, clock(1000));
        expect(s).toMatchObject({ pausedAt, told, lent, connections });
        expect(s.busy && s.idle).toBe(false);
      }),
    );
  });

  it('probes now when none is in flight and the interval passed; else says when to look again', () => {
    expect(probeDue(record(), clock(100))).toBe(0);
    expect(probeDue(record({ probedAt: 95 }), clock(100))).toBe(5);
    expect(probeDue(record({ probedAt: 90 }), clock(100))).toBe(0);
    // In flight: look when it turns overdue (+1 ms); once overdue, only its answer changes anything.
    expect(probeDue(record({ probeSentAt: 99, probedAt: 99 }), clock(100))).toBe(3);
    expect(probeDue(record({ probeSentAt: 96, probedAt: 96 }), clock(100))).toBeUndefined();
  });

  it('never asks to look again later than an interval, nor in the past (property)', () => {
    fc.assert(
      fc.property(fc.option(fc.nat({ max: 1000 }), { nil: undefined }), fc.nat({ max: 1000 }), fc.integer({ min: 1, max: 200 }), fc.nat({ max: 50 }), (sentAt, probedAt, interval, busyAfter) => {
        const now = 1000;
        const due = probeDue(record({ probeSentAt: sentAt, probedAt }), clock(now, { interval, busyAfter }));
        if (due === undefined) {
          expect(sentAt).not.toBeUndefined();
          return;
        }
        expect(due).toBeGreaterThanOrEqual(0);
        expect(due).toBeLessThanOrEqual(Math.max(interval, busyAfter + 1));
        if (sentAt !== undefined) expect(due).toBeGreaterThan(0);
      }),
    );
  });
});

/**
 * A pool where a connection arrives every `gap` ms and lives `life` ms, looked at every `step` ms
 * (as load reports come) for `ms`: the turnover after each look.
 */
function churn(life: number, gap: number, step: number, ms: number): Turnover[] {
  const seen: Turnover[] = [];
  let t = freshTurnover(0, 0);
  let closedBefore = 0;
  for (let now = step; now <= ms; now += step) {
    // Arrivals at 0, gap, 2 gap, …; each gone at its arrival + life.
    const arrived = Math.floor(now / gap) + 1;
    const closed = now < life ? 0 : Math.floor((now - life) / gap) + 1;
    t = turnover(t, arrived - closed, closed - closedBefore, now);
    closedBefore = closed;
    seen.push(t);
  }
  return seen;
}

describe('turnover and shortLived (Little\'s law on the reported closes)', () => {
  it('measures the mean lifetime as connection-ms over the connections that came and went', () => {
    expect(lifetimeOf(1000, 100, 100)).toBe(10);
    expect(lifetimeOf(1000, 100, 50)).toBe(20);
    // A burst of new keep-alive connections, or a pool that closes at once, turns nothing over.
    expect(lifetimeOf(5000, 64, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(lifetimeOf(5000, 0, 64)).toBe(Number.POSITIVE_INFINITY);
  });

  it('accumulates a window, then judges it at its end and begins the next', () => {
    let t = freshTurnover(0, 10);
    t = turnover(t, 10, 5, 50);
    expect(t).toMatchObject({ since: 0, closes: 5, area: 500, at: 50, open: 10, lifetime: Number.POSITIVE_INFINITY, short: 0 });
    t = turnover(t, 10, 5, TURNOVER_WINDOW_MS);
    // 10 open all along: 1000 connection-ms; 10 closed and 10 accepted: 100 ms each.
    expect(t).toMatchObject({ since: TURNOVER_WINDOW_MS, openAtStart: 10, closes: 0, area: 0, lifetime: 100 });
  });

  it('is short-lived after SHORT_WINDOWS short windows in a row; one long-lived window ends it, one in between changes nothing', () => {
    const window = (t: Turnover, life: number): Turnover => {
      // 10 connections open all along, turned over every `life` ms.
      const n = (10 * TURNOVER_WINDOW_MS) / life;
      return turnover(t, 10, n, t.since + TURNOVER_WINDOW_MS);
    };
    let t = freshTurnover(0, 10);
    for (let i = 1; i < SHORT_WINDOWS; i++) {
      t = window(t, 2);
      expect(shortLived(t)).toBe(false);
    }
    t = window(t, 2);
    expect(shortLived(t)).toBe(true);
    t = window(t, (SHORT_LIVED_MS + LONG_LIVED_MS) / 2);
    expect(shortLived(t)).toBe(true);
    t = window(t, LONG_LIVED_MS);
    expect(shortLived(t)).toBe(false);
  });

  it('finds churn short-lived, and connections that live LONG_LIVED_MS or more never (property)', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: SHORT_LIVED_MS / 2, noNaN: true }), fc.double({ min: 0.05, max: 5, noNaN: true }), fc.integer({ min: 1, max: 10 }), (life, gap, step) => {
        const seen = churn(life, gap, step, (SHORT_WINDOWS + 2) * TURNOVER_WINDOW_MS + 2 * step);
        expect(shortLived(seen.at(-1)!)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.double({ min: LONG_LIVED_MS, max: 10_000, noNaN: true }), fc.double({ min: 0.2, max: 50, noNaN: true }), fc.integer({ min: 1, max: 10 }), (life, gap, step) => {
        for (const t of churn(life, gap, step, 10 * TURNOVER_WINDOW_MS)) expect(shortLived(t)).toBe(false);
      }),
    );
  });

  it('never takes a burst of new connections, nor a pool closing, for churn, however fast (property)', () => {
    // Each look some connections opened, none closed (keep-alive clients arriving), or the reverse.
    const looks = fc.array(fc.record({ after: fc.integer({ min: 1, max: 30 }), n: fc.nat({ max: 500 }) }), { minLength: 1, maxLength: 200 });
    fc.assert(
      fc.property(looks, fc.boolean(), fc.nat({ max: 100_000 }), (ls, closing, start) => {
        let open = start;
        let t = freshTurnover(0, open);
        let now = 0;
        for (const l of ls) {
          now += l.after;
          const closed = closing ? Math.min(open, l.n) : 0;
          open += closing ? -closed : l.n;
          t = turnover(t, open, closed, now);
          expect(t.lifetime).toBe(Number.POSITIVE_INFINITY);
          expect(shortLived(t)).toBe(false);
        }
      }),
    );
  });

  it('is pure: the same looks give the same turnover (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), fc.nat({ max: 1000 }), (open, closed, now) => {
        const t = freshTurnover(0, 5);
        expect(turnover(t, open, closed, now)).toEqual(turnover(structuredClone(t), open, closed, now));
      }),
    );
  });
});

describe('release', () => {
  const at = (connections: number, over: Partial<Standing> = {}): Standing => ({ connections, pausedAt: undefined, lent: false, busy: false, idle: false, told: undefined, ...over });

  it('re-arms every paused worker and lifts every armed one\'s limit, loans included', () => {
    const ws = [at(40, { pausedAt: NOW - 1 }), at(3, { told: 42 }), at(3, { told: NO_LIMIT }), at(50, { told: 50, lent: true })];
    expect(release(ws)).toEqual([
      { kind: 'rearm', index: 0, limit: NO_LIMIT, lent: false },
      { kind: 'tighten', index: 1, limit: NO_LIMIT },
      { kind: 'tighten', index: 3, limit: NO_LIMIT },
    ]);
  });

  it('short-lived connections: nobody stays paused, nobody can pause, and once carried out it asks for nothing (property)', () => {
    fc.assert(
      fc.property(pool, (ws) => {
        const moves = release(ws);
        expect(accepting(ws, moves).size).toBe(ws.length);
        const after = ws.map((w) => ({ ...w }));
        for (const m of moves) {
          expect(m.limit).toBe(NO_LIMIT);
          after[m.index] = { ...after[m.index]!, pausedAt: undefined, lent: false, told: m.limit };
        }
        for (const w of after) expect(w.told === NO_LIMIT || w.connections < NO_LIMIT).toBe(true);
        expect(release(after)).toEqual([]);
        // NO_LIMIT travels as the wire's positive whole `limit`.
        expect(Number.isSafeInteger(NO_LIMIT)).toBe(true);
      }),
    );
  });

  it('long-lived again: decide tightens every worker released to NO_LIMIT back to the fair limit, as before (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 200 }), { minLength: 1, maxLength: 12 }), (cs) => {
        const ws = cs.map((c) => at(c, { told: NO_LIMIT }));
        const limit = fairLimit(cs, settings);
        expect(decide(ws, limit, NOW, settings)).toEqual(ws.map((_, index) => ({ kind: 'tighten', index, limit })));
      }),
    );
  });
});
