// The primary's wait queue, without a process: bound, expiry, FIFO per listener, compaction.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WaitQueue } from '../src/wait-queue.js';

interface Item {
  readonly listener: number;
  readonly n: number;
}

let expired: Item[] = [];
let flushes = 0;
const queue = (maxPending = 100, queueTimeout = 1000): WaitQueue<Item> =>
  new WaitQueue<Item>({ maxPending, queueTimeout }, (item) => expired.push(item), () => flushes++);
const items = (listeners: number[]): Item[] => listeners.map((listener, n) => ({ listener, n }));

beforeEach(() => {
  vi.useFakeTimers();
  expired = [];
  flushes = 0;
});
afterEach(() => vi.useRealTimers());

describe('WaitQueue', () => {
  it('refuses past maxPending and keeps nothing of the refused', () => {
    const q = queue(2);
    expect(q.push({ listener: 0, n: 0 })).toBe(true);
    expect(q.push({ listener: 0, n: 1 })).toBe(true);
    expect(q.push({ listener: 0, n: 2 })).toBe(false);
    expect(q.length).toBe(2);
  });

  it('expires the oldest at its deadline, then lets the rest try; the timer follows the next oldest', () => {
    const q = queue(10, 1000);
    q.push({ listener: 0, n: 0 });
    vi.advanceTimersByTime(400);
    q.push({ listener: 0, n: 1 });
    vi.advanceTimersByTime(599);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired.map((i) => i.n)).toEqual([0]);
    expect(flushes).toBe(1);
    vi.advanceTimersByTime(400);
    expect(expired.map((i) => i.n)).toEqual([0, 1]);
    expect(q.length).toBe(0);
  });

  it('a flush that places everything stops the timer: nothing expires later', () => {
    const q = queue(10, 1000);
    q.push({ listener: 0, n: 0 });
    q.flush(() => true, 1);
    vi.advanceTimersByTime(5000);
    expect(expired).toEqual([]);
  });

  it('keeps FIFO per listener: behind a refused one, its listener waits, other listeners go', () => {
    const q = queue();
    for (const item of items([0, 1, 0, 1, 2])) q.push(item);
    const offered: number[] = [];
    // Listener 0 cannot be placed now; 1 and 2 can.
    q.flush((item) => (offered.push(item.n), item.listener !== 0), 3);
    // Item 2 (listener 0, behind refused item 0) is never offered.
    expect(offered).toEqual([0, 1, 3, 4]);
    expect(q.takeAll().map((i) => i.n)).toEqual([0, 2]);
  });

  it('stops offering once every listener is blocked', () => {
    const q = queue();
    for (const item of items([0, 1, 0, 1])) q.push(item);
    const offered: number[] = [];
    q.flush((item) => (offered.push(item.n), false), 2);
    expect(offered).toEqual([0, 1]);
    expect(q.length).toBe(4);
  });

  it('compacts: order holds over many pushes and partial flushes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ listener: fc.integer({ min: 0, max: 2 }), place: fc.boolean() }), { maxLength: 200 }), (ops) => {
        const q = queue(1000, 1_000_000);
        const model: Item[] = [];
        ops.forEach((op, n) => {
          const item = { listener: op.listener, n };
          q.push(item);
          model.push(item);
          if (op.place) {
            // Place only the items of listener op.listener: the model does the same, FIFO per listener.
            q.flush((i) => i.listener === op.listener, 3);
            for (let k = model.length - 1; k >= 0; k--) if (model[k]!.listener === op.listener) model.splice(k, 1);
          }
        });
        expect(q.takeAll()).toEqual(model);
      }),
      { numRuns: 300 },
    );
  });

  it('takeAll empties it and stops its timer', () => {
    const q = queue(10, 100);
    q.push({ listener: 0, n: 0 });
    expect(q.takeAll()).toHaveLength(1);
    vi.advanceTimersByTime(1000);
    expect(expired).toEqual([]);
    expect(q.length).toBe(0);
  });
});
