import fc from 'fast-check';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { MAX_EXCESS, MIN_PAUSE_MS, NO_LIMIT, PRESSURE_MS, PRESSURE_PROBE_MS, QUIET_PROBE_MS, SHORT_WINDOWS, SUGGESTED_BUSY_AFTER_MS, TURNOVER_WINDOW_MS } from '@handoff/policies';
import { AcceptSteering } from '../src/steering.js';

interface W {
  id: number;
  connections: number;
  closes: number;
  armed: boolean;
  limit: number;
}

/** A pool where the kernel hands each new connection to an armed worker chosen by `choose`. */
function simulate(n: number, arrivals: number, choose: (armed: W[], step: number) => W, settings = { tolerance: 0.05, slack: 0 }) {
  const workers: W[] = Array.from({ length: n }, (_, i) => ({ id: i + 1, connections: 0, closes: 0, armed: true, limit: 0 }));
  let rearms = 0;
  let stalls = 0;
  const steering = new AcceptSteering<W>(settings, {
    rearm: (w, limit) => {
      rearms++;
      w.armed = true;
      w.limit = limit;
    },
    tighten: (w, limit) => {
      w.limit = limit;
    },
  }, () => workers);
  for (const w of workers) w.limit = steering.armed(w, workers);
  for (let step = 0; step < arrivals; step++) {
    const armed = workers.filter((w) => w.armed);
    if (armed.length === 0) {
      stalls++;
      break;
    }
    const w = choose(armed, step);
    w.connections++;
    // The worker pauses itself at its limit, then reports.
    const paused = w.connections >= w.limit;
    if (paused) w.armed = false;
    steering.report(w, paused, workers);
  }
  return { workers, rearms, stalls };
}

describe('AcceptSteering', () => {
  it('holds the busiest of 2 workers to 55 % of a burst of 64 keep-alive connections, even when the kernel always favours one', () => {
    const { workers, stalls } = simulate(2, 64, (armed) => armed[0]!);
    expect(stalls).toBe(0);
    expect(Math.max(...workers.map((w) => w.connections))).toBeLessThanOrEqual(35);
  });

  it('holds each of 8 workers within 1.2x its fair share of 64', () => {
    const { workers } = simulate(8, 64, (armed) => armed[0]!);
    expect(Math.max(...workers.map((w) => w.connections))).toBeLessThanOrEqual(Math.floor((64 / 8) * 1.2));
  });

  it('never leaves every worker paused, whatever the kernel picks (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 500 }), fc.array(fc.nat(), { minLength: 1, maxLength: 50 }), (n, arrivals, picks) => {
        const { stalls, workers } = simulate(n, arrivals, (armed, step) => armed[picks[step % picks.length]! % armed.length]!);
        expect(stalls).toBe(0);
        const fair = arrivals / n;
        expect(Math.max(...workers.map((w) => w.connections))).toBeLessThanOrEqual(Math.max(1, Math.ceil(fair * 1.05)));
      }),
    );
  });

  it('keeps the excess over the share to a few connections when thousands are open (idle ones dominate the count)', () => {
    const a = { id: 1, connections: 2500, closes: 0 };
    const b = { id: 2, connections: 2500, closes: 0 };
    const steering = new AcceptSteering({ tolerance: 0.05, slack: 0 }, { rearm: () => {}, tighten: () => {} }, () => [a, b]);
    expect(steering.limit([a, b])).toBe(2500 + MAX_EXCESS);
  });

  it('re-arms a paused worker once it is below the limit again, and tightens an armed one whose limit fell a lot', () => {
    const a = { id: 1, connections: 40, closes: 0 };
    const b = { id: 2, connections: 40, closes: 0 };
    const rearmed: number[] = [];
    const tightened: Array<[number, number]> = [];
    const steering = new AcceptSteering({ tolerance: 0.05, slack: 0 }, { rearm: (w) => rearmed.push(w.id), tighten: (w, l) => tightened.push([w.id, l]) }, () => [a, b]);
    expect(steering.armed(a, [a, b])).toBe(42);
    steering.armed(b, [a, b]);
    a.connections = 42;
    b.connections = 20;
    steering.report(a, true, [a, b]);
    expect(steering.isPaused(a)).toBe(true);
    expect(rearmed).toEqual([]);
    a.connections = 20;
    steering.report(a, false, [a, b], Date.now() + 5);
    // Below the limit, but it rests MIN_PAUSE_MS first (b still accepts).
    expect(rearmed).toEqual([]);
    steering.report(a, false, [a, b], Date.now() + MIN_PAUSE_MS + 1);
    expect(rearmed).toEqual([1]);
    expect(steering.isPaused(a)).toBe(false);
    expect(tightened).toEqual([[2, 21]]);
  });
});

describe('AcceptSteering (probes and loans)', () => {
  interface P {
    id: number;
    connections: number;
    closes: number;
  }
  function rig(busyAfter = SUGGESTED_BUSY_AFTER_MS) {
    const log: string[] = [];
    const probes = new Map<number, number>();
    // Not started: no timer runs; the tests tick by hand, at times of their own.
    const steering = new AcceptSteering<P>(
      { tolerance: 0.05, slack: 0, busyAfter },
      {
        rearm: (w, limit) => log.push(`rearm ${w.id} ${limit}`),
        tighten: (w, limit) => log.push(`tighten ${w.id} ${limit}`),
        probe: (w, seq) => probes.set(w.id, seq),
      },
      () => [],
    );
    return { steering, log, probes, wake: () => steering.nextTick };
  }

  it('lends to a paused worker over its share once the other leaves a probe unanswered, and calls it back on the answer', () => {
    const { steering, log, probes } = rig();
    const a = { id: 1, connections: 0, closes: 0 };
    const b = { id: 2, connections: 0, closes: 0 };
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    a.connections = 3;
    b.connections = 2;
    // Each ms: a tick, then whoever answers answers its probe in flight (a always; b while not blocked).
    const answered = new Map<number, number>();
    let bBlocked = false;
    const step = (t: number): void => {
      steering.tick([a, b], t);
      for (const [w, id] of [[a, 1], [b, 2]] as const) {
        const seq = probes.get(id);
        if (seq === undefined || answered.get(id) === seq || (id === 2 && bBlocked)) continue;
        answered.set(id, seq);
        steering.pong(w, seq, [a, b], t);
      }
    };
    // a holds 3 of 5 (limit 3): at its share, it pauses; both are probed at once.
    steering.report(a, true, [a, b], 0);
    expect(probes.has(1) && probes.has(2)).toBe(true);
    for (let t = 1; t < 30; t++) step(t);
    // b answers: not busy; a stays paused (it is not below the limit).
    expect(log).toEqual([]);
    expect(steering.isPaused(a)).toBe(true);
    // b's loop blocks: its next probe (every PRESSURE_PROBE_MS) goes unanswered; busyAfter later, a,
    // idle, is lent one tolerance (at least 1).
    bBlocked = true;
    let t = 30;
    while (log.length === 0 && t < 30 + PRESSURE_PROBE_MS + SUGGESTED_BUSY_AFTER_MS + 2) step(t++);
    expect(log).toEqual(['rearm 1 4']);
    expect(steering.isLent(a)).toBe(true);
    // It takes one and reaches the loan: paused again; lent again while b stays busy, once it
    // answered a probe after that pause (until then it may be busy with what it took).
    a.connections = 4;
    steering.report(a, true, [a, b], t);
    expect(log).toEqual(['rearm 1 4']);
    steering.pong(a, probes.get(1)!, [a, b], t + 1);
    expect(log).toEqual(['rearm 1 4', 'rearm 1 5']);
    // b answers: the loan is called back (the fair limit told again; a pauses at once if over it).
    steering.pong(b, probes.get(2)!, [a, b], t + 50);
    expect(log).toEqual(['rearm 1 4', 'rearm 1 5', 'tighten 1 4']);
    expect(steering.isLent(a)).toBe(false);
  });

  it('offers no loan again to a worker whose loan took nothing, until connections arrive', () => {
    const { steering, log, probes } = rig();
    const a = { id: 1, connections: 3, closes: 0 };
    const b = { id: 2, connections: 2, closes: 0 };
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    const answer = (w: { id: number; connections: number; closes: number }, t: number): void => steering.pong(w, probes.get(w.id)!, [a, b], t);
    steering.report(a, true, [a, b], 0);
    answer(a, 1);
    // b is slow (a loop turn past busyAfter, no connection arriving): a is lent, takes nothing, is called back.
    steering.tick([a, b], SUGGESTED_BUSY_AFTER_MS + 1);
    expect(log).toEqual(['rearm 1 4']);
    answer(b, SUGGESTED_BUSY_AFTER_MS + 2);
    expect(log).toEqual(['rearm 1 4', 'tighten 1 3']);
    // It pauses on that call-back (the steering knows), and b is slow again: no loan this time.
    expect(steering.isPaused(a)).toBe(true);
    for (let t = 20; t < 60; t++) {
      steering.tick([a, b], t);
      if (probes.get(1) !== undefined) answer(a, t);
    }
    expect(log).toEqual(['rearm 1 4', 'tighten 1 3']);
    // Connections arrive (b pauses by accepting): a goes back to work.
    b.connections = 3;
    steering.report(b, true, [a, b], 60);
    answer(a, 61);
    expect(log.slice(2)).toContainEqual(expect.stringMatching(/^rearm 1 /));
  });

  it('re-arms a rested worker below the limit on its tick, with no report to wait for', () => {
    const { steering, log, probes, wake } = rig();
    const a = { id: 1, connections: 4, closes: 0 };
    const b = { id: 2, connections: 4, closes: 0 };
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    steering.report(a, true, [a, b], 0);
    steering.pong(b, probes.get(2)!, [a, b], 1);
    a.connections = 1;
    steering.report(a, true, [a, b], 5);
    // b's limit fell from 5 to 3: told; a rests.
    expect(log).toEqual(['tighten 2 3']);
    expect(wake()).toBeLessThanOrEqual(MIN_PAUSE_MS);
    steering.pong(b, 0, [a, b], 6); // not its probe: ignored
    steering.pong(b, probes.get(2)!, [a, b], 6);
    steering.tick([a, b], MIN_PAUSE_MS);
    expect(log).toEqual(['tighten 2 3', 'rearm 1 3']);
  });

  it('never probes nor lends with busyAfter 0, and asks for no tick while every worker accepts', () => {
    const { steering, log, probes, wake } = rig(0);
    const a = { id: 1, connections: 3, closes: 0 };
    const b = { id: 2, connections: 2, closes: 0 };
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    steering.report(b, false, [a, b], 0);
    expect(wake()).toBeUndefined();
    steering.report(a, true, [a, b], 0);
    for (let t = 1; t < 1000; t += 7) steering.tick([a, b], t);
    expect(probes.size).toBe(0);
    expect(log).toEqual([]);
  });

  it('probes seldom once nothing paused for a while (a steady pool of keep-alive connections)', () => {
    const { steering, probes } = rig();
    const a = { id: 1, connections: 34, closes: 0 };
    const b = { id: 2, connections: 30, closes: 0 };
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    steering.report(a, true, [a, b], 0);
    let sent = 0;
    let last = -1;
    for (let t = 1; t <= 10_000; t++) {
      // b answers every probe at once.
      const seq = probes.get(2);
      if (seq !== undefined && seq !== last) {
        sent++;
        last = seq;
        steering.pong(b, seq, [a, b], t);
      }
      steering.tick([a, b], t);
    }
    // Frequent for PRESSURE_MS after the pause, then every QUIET_PROBE_MS: about 125 in 10 s, not 1,000.
    expect(sent).toBeLessThanOrEqual(PRESSURE_MS / PRESSURE_PROBE_MS + 10_000 / QUIET_PROBE_MS + 2);
    expect(steering.isPaused(a)).toBe(true);
  });
});

describe('AcceptSteering (its timer and its records)', () => {
  it('once started, ticks on its own timer: a rested worker below the limit is re-armed with no report; stopped, it ticks no more', async () => {
    const a = { id: 1, connections: 4, closes: 0 };
    const b = { id: 2, connections: 4, closes: 0 };
    const rearmed: number[] = [];
    let ticks = 0;
    const steering = new AcceptSteering({ tolerance: 0.05, slack: 0 }, { rearm: (w) => rearmed.push(w.id), tighten: () => {} }, () => {
      ticks++;
      return [a, b];
    });
    steering.start();
    onTestFinished(() => steering.stop());
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    steering.report(a, true, [a, b]);
    a.connections = 1;
    steering.report(a, true, [a, b]);
    expect(rearmed).toEqual([]);
    expect(steering.nextTick).toBeGreaterThan(0);
    await vi.waitFor(() => expect(rearmed).toEqual([1]), { timeout: 2000, interval: 5 });
    // Every worker accepts: it asks for no tick.
    expect(steering.nextTick).toBeUndefined();
    // Paused again and stopped: no timer runs it.
    a.connections = 4;
    steering.report(a, true, [a, b]);
    a.connections = 1;
    steering.report(a, true, [a, b]);
    steering.stop();
    const before = ticks;
    await new Promise((resolve) => setTimeout(resolve, MIN_PAUSE_MS * 3));
    expect(ticks).toBe(before);
    expect(rearmed).toEqual([1]);
  });

  it('forgets a worker that leaves: it comes back armed, with no loan, pause or probe of before', () => {
    const probes: number[] = [];
    const a = { id: 1, connections: 3, closes: 0 };
    const b = { id: 2, connections: 2, closes: 0 };
    const steering = new AcceptSteering({ tolerance: 0.05, slack: 0, busyAfter: SUGGESTED_BUSY_AFTER_MS }, { rearm: () => {}, tighten: () => {}, probe: (w) => probes.push(w.id) }, () => [a, b]);
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    steering.report(a, true, [a, b], 0);
    expect(steering.isPaused(a)).toBe(true);
    expect(probes.sort()).toEqual([1, 2]);
    steering.leave(a);
    expect(steering.isPaused(a)).toBe(false);
    steering.rebalance([b], 1);
    // Nobody paused or lent: no probe, no tick.
    expect(steering.nextTick).toBeUndefined();
    steering.armed(a, [a, b]);
    expect(steering.isPaused(a) || steering.isLent(a)).toBe(false);
  });
});

describe('AcceptSteering (short-lived connections)', () => {
  interface C {
    id: number;
    connections: number;
    closes: number;
  }
  function rig() {
    const log: string[] = [];
    const steering = new AcceptSteering<C>(
      { tolerance: 0.05, slack: 0 },
      {
        rearm: (w, limit) => log.push(`rearm ${w.id} ${limit === NO_LIMIT ? 'none' : limit}`),
        tighten: (w, limit) => log.push(`tighten ${w.id} ${limit === NO_LIMIT ? 'none' : limit}`),
      },
      () => [],
    );
    const a = { id: 1, connections: 0, closes: 0 };
    const b = { id: 2, connections: 0, closes: 0 };
    steering.armed(a, [a, b]);
    steering.armed(b, [a, b]);
    return { steering, log, a, b };
  }
  /** Every 10 ms from `from` to `to`, each worker reports `closed` more closed; a, with `pausedA`, paused until re-armed. */
  function reports(steering: AcceptSteering<C>, ws: C[], from: number, to: number, closed: number, pausedA = false): void {
    for (let t = from; t < to; t += 10) {
      for (const w of ws) {
        w.closes += closed;
        steering.report(w, pausedA && w.id === 1 && steering.isPaused(w), ws, t);
      }
    }
  }

  it('lets go under churn (connections that live a few ms): the paused worker is re-armed at once and every one is told no limit', () => {
    const { steering, log, a, b } = rig();
    a.connections = 3;
    b.connections = 3;
    // a at its limit (4 of 3 + 3) pauses, as under churn it keeps doing.
    a.connections = 4;
    steering.report(a, true, [a, b], 0);
    expect(steering.isPaused(a)).toBe(true);
    // 30 closes a worker every 10 ms with 3-4 open: connections live about 1 ms.
    reports(steering, [a, b], 1, (SHORT_WINDOWS - 1) * TURNOVER_WINDOW_MS, 30, true);
    expect(steering.releasing).toBe(false);
    reports(steering, [a, b], (SHORT_WINDOWS - 1) * TURNOVER_WINDOW_MS, (SHORT_WINDOWS + 1) * TURNOVER_WINDOW_MS, 30, true);
    expect(steering.releasing).toBe(true);
    expect(steering.isPaused(a)).toBe(false);
    expect(log.slice(-2).sort()).toEqual(['rearm 1 none', 'tighten 2 none']);
    // No pause, no rest, no probe while it lets go (the kernel spreads the connections, as in mode
    // shared): only a tick at the window's end.
    expect(steering.nextTick).toBeLessThanOrEqual(TURNOVER_WINDOW_MS);
    const before = log.length;
    reports(steering, [a, b], (SHORT_WINDOWS + 1) * TURNOVER_WINDOW_MS, 2000, 30);
    expect(log.length).toBe(before);
    // A worker joining meanwhile gets no limit either.
    expect(steering.armed({ id: 3, connections: 0, closes: 0 }, [a, b])).toBe(NO_LIMIT);
  });

  it('while it lets go, ticks once a window: when the churn stops (and the reports with it), it takes up steering within two windows', () => {
    const { steering, log, a, b } = rig();
    a.connections = 3;
    b.connections = 3;
    const end = (SHORT_WINDOWS + 1) * TURNOVER_WINDOW_MS;
    reports(steering, [a, b], 0, end, 30);
    expect(steering.releasing).toBe(true);
    log.length = 0;
    // The last reports: nothing open. From now on only the ticks it asks for.
    a.connections = 0;
    b.connections = 0;
    let now = end;
    for (let i = 0; i < 3 && steering.releasing; i++) {
      const next = steering.nextTick;
      expect(next).toBeGreaterThan(0);
      expect(next).toBeLessThanOrEqual(TURNOVER_WINDOW_MS);
      now += next!;
      steering.tick([a, b], now);
    }
    expect(steering.releasing).toBe(false);
    expect(now - end).toBeLessThanOrEqual(2 * TURNOVER_WINDOW_MS);
    expect(log.sort()).toEqual(['tighten 1 1', 'tighten 2 1']);
    // Steering again, with nobody paused: no tick.
    expect(steering.nextTick).toBeUndefined();
  });

  it('takes up steering as soon as the connections live long again (a burst of keep-alive clients after the churn)', () => {
    const { steering, log, a, b } = rig();
    a.connections = 3;
    b.connections = 3;
    reports(steering, [a, b], 0, (SHORT_WINDOWS + 1) * TURNOVER_WINDOW_MS, 30);
    expect(steering.releasing).toBe(true);
    log.length = 0;
    // The churn stops; 60 keep-alive connections arrive, the kernel puts 40 on a. No closes.
    a.connections = 40;
    b.connections = 20;
    const t = (SHORT_WINDOWS + 1) * TURNOVER_WINDOW_MS;
    reports(steering, [a, b], t, t + TURNOVER_WINDOW_MS + 10, 0);
    expect(steering.releasing).toBe(false);
    // Every worker told the fair limit again (30 + 5 %): a, over it, pauses on that message.
    expect(log.sort()).toEqual(['tighten 1 32', 'tighten 2 32']);
  });

  it('keeps steering connections that close now and then (keep-alive clients that come and go)', () => {
    const { steering, log, a, b } = rig();
    a.connections = 32;
    b.connections = 32;
    // One closed and one opened a worker every 10 ms, 64 open: they live 320 ms.
    reports(steering, [a, b], 0, 20 * TURNOVER_WINDOW_MS, 1);
    expect(steering.releasing).toBe(false);
    a.connections = 34;
    steering.report(a, true, [a, b], 20 * TURNOVER_WINDOW_MS);
    expect(steering.isPaused(a)).toBe(true);
    expect(log).toEqual([]);
  });
});
