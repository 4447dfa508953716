import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptSteering, MAX_EXCESS, MIN_PAUSE_MS } from '../src/steering.js';

interface W {
  id: number;
  connections: number;
  armed: boolean;
  limit: number;
}

/** A pool where the kernel hands each new connection to an armed worker chosen by `choose`. */
function simulate(n: number, arrivals: number, choose: (armed: W[], step: number) => W, settings = { tolerance: 0.05, slack: 0 }) {
  const workers: W[] = Array.from({ length: n }, (_, i) => ({ id: i + 1, connections: 0, armed: true, limit: 0 }));
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
  });
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
    const a = { id: 1, connections: 2500 };
    const b = { id: 2, connections: 2500 };
    const steering = new AcceptSteering({ tolerance: 0.05, slack: 0 }, { rearm: () => {}, tighten: () => {} });
    expect(steering.limit([a, b])).toBe(2500 + MAX_EXCESS);
  });

  it('re-arms a paused worker once it is below the limit again, and tightens an armed one whose limit fell a lot', () => {
    const a = { id: 1, connections: 40 };
    const b = { id: 2, connections: 40 };
    const rearmed: number[] = [];
    const tightened: Array<[number, number]> = [];
    const steering = new AcceptSteering({ tolerance: 0.05, slack: 0 }, { rearm: (w) => rearmed.push(w.id), tighten: (w, l) => tightened.push([w.id, l]) });
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
