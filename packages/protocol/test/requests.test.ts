import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Requests } from '@handoff/protocol';

describe('Requests', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles each request once: by its answer, its timeout, or cancelAll', () => {
    const requests = new Requests<string>();
    const timedOut: string[] = [];
    const a = requests.open('a', { timeout: 100, onTimeout: (v) => timedOut.push(v) });
    const b = requests.open('b', { timeout: 100, onTimeout: (v) => timedOut.push(v) });
    const c = requests.open('c');
    expect(new Set([a, b, c]).size).toBe(3);
    expect(requests.settle(a)).toBe('a');
    expect(requests.settle(a)).toBeUndefined();
    vi.advanceTimersByTime(100);
    expect(timedOut).toEqual(['b']);
    // A late answer finds nothing.
    expect(requests.settle(b)).toBeUndefined();
    expect(requests.size).toBe(1);
    expect(requests.cancelAll()).toEqual(['c']);
    expect(requests.size).toBe(0);
    expect(requests.settle(undefined)).toBeUndefined();
  });

  it('never times out what was answered or cancelled', () => {
    const requests = new Requests<number>();
    const timedOut: number[] = [];
    const seq = requests.open(1, { timeout: 10, onTimeout: (v) => timedOut.push(v) });
    requests.open(2, { timeout: 10, onTimeout: (v) => timedOut.push(v) });
    requests.settle(seq);
    requests.cancelAll();
    vi.advanceTimersByTime(1000);
    expect(timedOut).toEqual([]);
  });

  it('for any interleaving of opens, answers and timeouts, settles every request exactly once', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant<'open'>('open'), fc.nat({ max: 20 }), fc.constant<'tick'>('tick')), { maxLength: 60 }), (steps) => {
        const requests = new Requests<number>();
        const settled = new Map<number, number>();
        const count = (v: number): void => void settled.set(v, (settled.get(v) ?? 0) + 1);
        const seqs: number[] = [];
        let n = 0;
        for (const step of steps) {
          if (step === 'open') seqs.push(requests.open(n++, { timeout: 5, onTimeout: count }));
          else if (step === 'tick') vi.advanceTimersByTime(5);
          else {
            const v = requests.settle(seqs[step]);
            if (v !== undefined) count(v);
          }
        }
        for (const v of requests.cancelAll()) count(v);
        vi.advanceTimersByTime(10);
        expect([...settled.values()].every((k) => k === 1)).toBe(true);
        expect(settled.size).toBe(n);
      }),
    );
  });
});
