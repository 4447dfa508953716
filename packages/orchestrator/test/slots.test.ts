// The pool's slots and their backoff, without a process: restartDelay's bounds, RecentEvents'
// window, and Slots (reuse of freed slots, refills after the backoff, crash loops reported once).
import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RecentEvents, restartDelay } from '../src/backoff.js';
import { Slots, type CrashLoop, type Slot } from '../src/slots.js';

describe('restartDelay', () => {
  it('is 0 before any crash, then within [e/2, e] of e = min(max, initial x 2^(crashes-1)) (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -3, max: 80 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (crashes, initial, max, r) => {
        const delay = restartDelay(crashes, initial, max, () => r);
        if (crashes <= 0) return delay === 0;
        const e = Math.min(max, initial * 2 ** Math.min(crashes - 1, 30));
        return Number.isInteger(delay) && delay >= Math.floor(e / 2) && delay <= Math.ceil(e);
      }),
    );
  });

  it('doubles with each crash until the cap (no jitter: the random part at its top)', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => restartDelay(n, 100, 1000, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect([1, 2, 3].map((n) => restartDelay(n, 100, 1000, () => 0))).toEqual([50, 100, 200]);
  });

  it('never overflows for a long crash history', () => {
    expect(restartDelay(10_000, 100, 30_000, () => 1)).toBe(30_000);
  });
});

describe('RecentEvents', () => {
  it('counts the events inside the window ending now, as a list of every time would (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(fc.integer({ min: 0, max: 200 }), { maxLength: 60 }), (windowMs, gaps) => {
        const events = new RecentEvents(windowMs);
        const all: number[] = [];
        let now = 0;
        for (const gap of gaps) {
          now += gap;
          all.push(now);
          if (events.record(now) !== all.filter((t) => t > now - windowMs).length) return false;
        }
        return events.count(now + windowMs) === 0;
      }),
    );
  });
});

/** What Slots reads of a worker: its slot, and whether a version refusal ended it. */
function worker(slot: number, refusal?: string): { slot: number; refusal: string | undefined } & EventEmitter {
  return Object.assign(new EventEmitter(), { slot, refusal });
}
type W = ReturnType<typeof worker>;

describe('Slots', () => {
  const restart = { initialDelay: 100, maxDelay: 1600, crashLoopCount: 3, crashLoopWindow: 10_000 };
  let loops: CrashLoop[];
  let slots: Slots;
  let spawned: number[];
  const spawn = (slot: Slot): void => {
    spawned.push(slot.index);
  };
  /** Puts `w` in its slot as the supervisor does when it forks. */
  const seat = (w: W): void => {
    slots.occupy(slots.of(w as never), w as never);
  };

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    vi.spyOn(Math, 'random').mockReturnValue(1);
    loops = [];
    spawned = [];
    slots = new Slots(restart, (loop) => loops.push(loop));
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('numbers new slots 0..n-1 and gives the lowest freed one back first', () => {
    expect([slots.add(), slots.add(), slots.add()].map((s) => s.index)).toEqual([0, 1, 2]);
    for (const i of [0, 1, 2]) seat(worker(i));
    slots.removeNewest();
    slots.removeNewest();
    expect(slots.activeCount).toBe(1);
    const again = slots.add();
    expect(again.index).toBe(1);
    expect(again.restarts).toBe(0);
    expect(slots.add().index).toBe(2);
    expect(slots.add().index).toBe(3);
    expect(slots.activeCount).toBe(4);
  });

  it('removeNewest deactivates the newest active slot and hands back its worker', () => {
    slots.add();
    slots.add();
    const w0 = worker(0);
    const w1 = worker(1);
    seat(w0);
    seat(w1);
    expect(slots.removeNewest()).toBe(w1);
    expect(slots.removeNewest()).toBe(w0);
    expect(slots.removeNewest()).toBeUndefined();
    expect(slots.activeCount).toBe(0);
  });

  it('refills a crashed worker\'s slot after a backoff that doubles with the slot\'s crashes', () => {
    slots.add();
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const w = worker(0);
      seat(w);
      const before = Date.now();
      slots.refill(w as never, 'crashed', spawn);
      vi.advanceTimersToNextTimer();
      delays.push(Date.now() - before);
    }
    expect(delays).toEqual([100, 200, 400]);
    expect(spawned).toEqual([0, 0, 0]);
    expect(slots.of(worker(0) as never).restarts).toBe(3);
  });

  it('does not refill a slot removed, a worker no longer in its slot, or after stopRefilling; a pending refill is cancelled', () => {
    slots.add();
    slots.add();
    const w0 = worker(0);
    const w1 = worker(1);
    seat(w0);
    seat(w1);
    // A worker that is no longer its slot's (a replacement took it): nothing.
    slots.refill(worker(0) as never, 'crashed', spawn);
    // Scheduled, then the slot is removed before the timer: cancelled.
    slots.refill(w1 as never, 'crashed', spawn);
    slots.removeNewest();
    // Scheduled, then the pool closes: cancelled, and later refills are refused.
    slots.refill(w0 as never, 'retired', spawn);
    slots.stopRefilling();
    slots.refill(w0 as never, 'crashed', spawn);
    vi.advanceTimersByTime(60_000);
    expect(spawned).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waits the longest delay for a worker refused for its protocol version', () => {
    slots.add();
    const w = worker(0, 'protocol version 9');
    seat(w);
    const before = Date.now();
    slots.refill(w as never, 'crashed', spawn);
    vi.advanceTimersToNextTimer();
    expect(Date.now() - before).toBe(restart.maxDelay);
  });

  it('reports a crash loop once per loop: at crashLoopCount crashes within the window, again only after it calmed down', () => {
    for (let i = 0; i < 3; i++) slots.add();
    const crashAll = (): void => {
      for (let i = 0; i < 3; i++) {
        const w = worker(i);
        seat(w);
        slots.refill(w as never, 'crashed', spawn);
      }
    };
    crashAll();
    expect(loops).toHaveLength(1);
    expect(loops[0]).toMatchObject({ crashes: 3, windowMs: restart.crashLoopWindow });
    vi.advanceTimersByTime(1000);
    crashAll();
    expect(loops).toHaveLength(1);
    // Past the window, one crash alone is no loop: the next burst is a new loop.
    vi.advanceTimersByTime(restart.crashLoopWindow + 1);
    const w = worker(0);
    seat(w);
    slots.refill(w as never, 'crashed', spawn);
    expect(loops).toHaveLength(1);
    vi.advanceTimersByTime(100);
    crashAll();
    expect(loops).toHaveLength(2);
  });

  it('counts a retired worker\'s refill as a restart but not as a crash', () => {
    for (let i = 0; i < 3; i++) slots.add();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        const w = worker(i);
        seat(w);
        slots.refill(w as never, 'retired', spawn);
      }
    }
    expect(loops).toEqual([]);
    expect(slots.of(worker(2) as never).restarts).toBe(3);
  });
});
