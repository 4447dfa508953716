// The primary's small accounts, without a process: failed accepts reported once per interval, the
// ready set a policy picks from, and the descriptor budget's arithmetic.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AcceptFailures, ACCEPT_FAILURE_INTERVAL_MS } from '../src/accept-failures.js';
import { DescriptorBudget } from '../src/descriptors.js';
import { ReadySet } from '../src/ready-set.js';

type Failure = { listener: number; code: string; count: number; intervalMs: number };

describe('AcceptFailures', () => {
  let reported: Failure[];
  let failures: AcceptFailures;
  beforeEach(() => {
    vi.useFakeTimers();
    reported = [];
    failures = new AcceptFailures((f) => reported.push(f));
  });
  afterEach(() => {
    failures.close();
    vi.useRealTimers();
  });

  it('reports the first failure at once and the rest of the interval as one count per listener and code', () => {
    failures.failed(0, 'EMFILE');
    expect(reported).toEqual([{ listener: 0, code: 'EMFILE', count: 1, intervalMs: ACCEPT_FAILURE_INTERVAL_MS }]);
    for (let i = 0; i < 500; i++) failures.failed(0, 'EMFILE');
    failures.failed(1, 'EMFILE');
    failures.failed(0, 'ENFILE');
    expect(reported).toHaveLength(1);
    vi.advanceTimersByTime(ACCEPT_FAILURE_INTERVAL_MS);
    expect(reported.slice(1)).toEqual([
      { listener: 0, code: 'EMFILE', count: 500, intervalMs: ACCEPT_FAILURE_INTERVAL_MS },
      { listener: 1, code: 'EMFILE', count: 1, intervalMs: ACCEPT_FAILURE_INTERVAL_MS },
      { listener: 0, code: 'ENFILE', count: 1, intervalMs: ACCEPT_FAILURE_INTERVAL_MS },
    ]);
    expect(failures.byCode).toEqual({ EMFILE: 502, ENFILE: 1 });
  });

  it('keeps reporting at the end of each interval while failures go on, and starts afresh once they stopped', () => {
    failures.failed(0, 'EMFILE');
    for (let round = 0; round < 3; round++) {
      failures.failed(0, 'EMFILE');
      vi.advanceTimersByTime(ACCEPT_FAILURE_INTERVAL_MS);
    }
    expect(reported.map((r) => r.count)).toEqual([1, 1, 1, 1]);
    // A quiet interval ends the reporting; the next failure is reported at once again.
    vi.advanceTimersByTime(ACCEPT_FAILURE_INTERVAL_MS * 3);
    expect(vi.getTimerCount()).toBe(0);
    failures.failed(0, 'EMFILE');
    expect(reported).toHaveLength(5);
  });

  it('publishes each report on handoff:connection:accept-failed', () => {
    const seen: unknown[] = [];
    const listener = (message: unknown): void => {
      seen.push(message);
    };
    subscribe('handoff:connection:accept-failed', listener);
    try {
      failures.failed(2, 'ENOBUFS');
    } finally {
      unsubscribe('handoff:connection:accept-failed', listener);
    }
    expect(seen).toEqual([{ listener: 2, code: 'ENOBUFS', count: 1, intervalMs: ACCEPT_FAILURE_INTERVAL_MS }]);
  });

  it('close() drops what is pending and stops the timer', () => {
    failures.failed(0, 'EMFILE');
    failures.failed(0, 'EMFILE');
    failures.close();
    vi.advanceTimersByTime(ACCEPT_FAILURE_INTERVAL_MS * 2);
    expect(reported).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });
});

/** What ReadySet reads of a worker. */
function worker(id: number, state: string, listeners: number[] = []): { id: number; state: string; dropInListeners: Set<number> } {
  return { id, state, dropInListeners: new Set(listeners) };
}

describe('ReadySet', () => {
  it('holds the ready workers only, ascending id, whatever order they come in', () => {
    const set = new ReadySet(false);
    const ws = [worker(5, 'ready'), worker(2, 'starting'), worker(3, 'ready'), worker(1, 'draining'), worker(4, 'ready')];
    set.rebuild(ws as never);
    expect(set.all.map((w) => w.id)).toEqual([3, 4, 5]);
    expect(set.forListener(7)).toBe(set.all);
    expect(set.includes(ws[0] as never)).toBe(true);
    expect(set.includes(ws[1] as never)).toBe(false);
  });

  it('in drop-in mode, offers per listener only the workers whose app bound it, cached until listeners change', () => {
    const set = new ReadySet(true);
    const a = worker(1, 'ready', [0]);
    const b = worker(2, 'ready', [0, 1]);
    set.rebuild([a, b] as never);
    expect(set.forListener(0).map((w) => w.id)).toEqual([1, 2]);
    expect(set.forListener(1).map((w) => w.id)).toEqual([2]);
    const cached = set.forListener(1);
    a.dropInListeners.add(1);
    expect(set.forListener(1)).toBe(cached);
    set.listenersChanged();
    expect(set.forListener(1).map((w) => w.id)).toEqual([1, 2]);
    // A rebuild forgets the cache too.
    b.state = 'draining';
    set.rebuild([a, b] as never);
    expect(set.forListener(0).map((w) => w.id)).toEqual([1]);
  });
});

describe('DescriptorBudget', () => {
  it('counts held connections against the reserve between samples', () => {
    // With no reserve this process is far from its limit; with an infinite one, always exhausted.
    const roomy = new DescriptorBudget(0);
    const none = new DescriptorBudget(Number.POSITIVE_INFINITY);
    try {
      expect(roomy.exhausted).toBe(false);
      expect(none.exhausted).toBe(true);
      for (let i = 0; i < 10; i++) roomy.took();
      roomy.released(10);
      expect(roomy.exhausted).toBe(false);
    } finally {
      roomy.close();
      none.close();
    }
  });

  it('is exhausted once the connections held would eat into the reserve, and free again as they leave', () => {
    const probe = new DescriptorBudget(0);
    probe.close();
    // The soft limit and what is open now, as the budget reads them (Linux: /proc/self).
    const limit = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1]);
    const open = readdirSync('/proc/self/fd').length;
    // A reserve that leaves room for 20 more descriptors (a few more or fewer may open meanwhile).
    const budget = new DescriptorBudget(limit - open - 20);
    try {
      let held = 0;
      while (!budget.exhausted && held < 1000) {
        budget.took();
        held++;
      }
      expect(held).toBeGreaterThan(10);
      expect(held).toBeLessThan(30);
      budget.released(held);
      expect(budget.exhausted).toBe(false);
    } finally {
      budget.close();
    }
  });
});
