// The worker's pure bookkeeping, without a primary: the balanced mode's accept gate, drop-in's
// listen indexes (as node:cluster counts them), and the numbered requests and ordered answers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AcceptGate } from '../src/gate.js';
import { ListenIndexes } from '../src/indexes.js';
import { Requests } from '@handoff/protocol';
import { Releasing } from '../src/requests.js';

/** An acceptor: only close() is asked of it. */
function acceptor(): { closed: number; close(): void } {
  return {
    closed: 0,
    close() {
      this.closed++;
    },
  };
}

describe('AcceptGate', () => {
  it('is always open without a limit: check() never pauses', async () => {
    const gate = new AcceptGate();
    const a = acceptor();
    await gate.arm(0, async () => a as never, () => true);
    for (const open of [0, 1, 1e6]) expect(gate.check(open)).toBe(false);
    expect(gate.paused).toBe(false);
    expect(a.closed).toBe(0);
  });

  it('closes every armed acceptor once the open count reaches the limit, pausing once; a re-arm un-pauses', async () => {
    const gate = new AcceptGate();
    gate.limit = 3;
    const [a, b] = [acceptor(), acceptor()];
    expect(gate.begin(0)).toBe(false);
    expect(gate.begin(1)).toBe(false);
    await gate.arm(0, async () => a as never, () => true);
    await gate.arm(1, async () => b as never, () => true);
    expect(gate.check(2)).toBe(false);
    expect(gate.check(3)).toBe(true);
    expect(gate.paused).toBe(true);
    expect([a.closed, b.closed]).toEqual([1, 1]);
    expect(gate.holds(0)).toBe(false);
    expect(gate.check(4)).toBe(false);
    // The primary's listen for a listener attached before: a re-arm, which un-pauses.
    expect(gate.begin(0)).toBe(true);
    expect(gate.paused).toBe(false);
  });

  it('does not pause with nothing armed (nothing to close)', () => {
    const gate = new AcceptGate();
    gate.limit = 1;
    expect(gate.check(5)).toBe(false);
    expect(gate.paused).toBe(false);
  });

  it('holds a listener while its acceptor is being attached, and closes it at once if it is no longer wanted', async () => {
    const gate = new AcceptGate();
    const a = acceptor();
    let attached!: (value: never) => void;
    const arming = gate.arm(0, () => new Promise((resolve) => (attached = resolve)), () => false);
    expect(gate.holds(0)).toBe(true);
    attached(a as never);
    await arming;
    expect(gate.holds(0)).toBe(false);
    expect(a.closed).toBe(1);
  });

  it('lets go of a listener whose attach failed', async () => {
    const gate = new AcceptGate();
    await expect(gate.arm(0, () => Promise.reject(new Error('EADDRINUSE')), () => true)).rejects.toThrow('EADDRINUSE');
    expect(gate.holds(0)).toBe(false);
  });

  it('disarm() closes one listener for good: a later listen attaches it anew', async () => {
    const gate = new AcceptGate();
    const a = acceptor();
    gate.begin(0);
    await gate.arm(0, async () => a as never, () => true);
    gate.disarm(0);
    expect(a.closed).toBe(1);
    expect(gate.holds(0)).toBe(false);
    expect(gate.begin(0)).toBe(false);
  });
});

describe('ListenIndexes', () => {
  it('gives the n-th open server of an address index n, distinct among those open, and starts over once none is (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('take' as const), server: fc.integer({ min: 0, max: 5 }), key: fc.constantFrom('a', 'b') }),
      fc.record({ kind: fc.constant('free' as const), server: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const indexes = new ListenIndexes();
        const servers = Array.from({ length: 6 }, () => ({}));
        // The model: what each server holds, and each address's next index.
        const held = new Map<number, { key: string; index: number }>();
        const next = new Map<string, number>();
        const release = (server: number): void => {
          const h = held.get(server);
          if (h === undefined) return;
          held.delete(server);
          if (![...held.values()].some((x) => x.key === h.key)) next.delete(h.key);
        };
        for (const o of ops) {
          if (o.kind === 'free') {
            indexes.free(servers[o.server] as never);
            release(o.server);
            continue;
          }
          release(o.server);
          const expected = next.get(o.key) ?? 0;
          next.set(o.key, expected + 1);
          held.set(o.server, { key: o.key, index: expected });
          if (indexes.take(servers[o.server] as never, o.key) !== expected) return false;
          const open = [...held.values()].filter((x) => x.key === o.key).map((x) => x.index);
          if (new Set(open).size !== open.length) return false;
        }
        return true;
      }),
    );
  });

  it('counts as cluster does: listen(0) twice gets 0 and 1; closing one keeps the count; closing both starts over', () => {
    const indexes = new ListenIndexes();
    const a = {} as never;
    const b = {} as never;
    const c = {} as never;
    expect(indexes.take(a, ':0')).toBe(0);
    expect(indexes.take(b, ':0')).toBe(1);
    indexes.free(a);
    expect(indexes.take(c, ':0')).toBe(2);
    indexes.free(b);
    indexes.free(c);
    expect(indexes.take(a, ':0')).toBe(0);
    // Another address counts on its own.
    expect(indexes.take(b, '127.0.0.1:8080')).toBe(0);
  });
});

describe('Requests (the bind requests of drop-in listen())', () => {
  it('numbers requests from 1, answers each once, and ignores unknown or missing numbers', () => {
    const pending = new Requests<string>();
    const a = pending.open('a');
    const b = pending.open('b');
    expect([a, b]).toEqual([1, 2]);
    expect(pending.size).toBe(2);
    expect(pending.settle(b)).toBe('b');
    expect(pending.settle(b)).toBeUndefined();
    expect(pending.settle(99)).toBeUndefined();
    expect(pending.settle(undefined)).toBeUndefined();
    expect(pending.size).toBe(1);
    expect(pending.open('c')).toBe(3);
  });
});

describe('Releasing', () => {
  it('runs the answers for each key oldest first, and nothing for a key none waits on', () => {
    const releasing = new Releasing();
    const ran: string[] = [];
    releasing.wait(1, () => ran.push('1a'));
    releasing.wait(2, () => ran.push('2a'));
    releasing.wait(1, () => ran.push('1b'));
    releasing.settle(1);
    releasing.settle(3);
    releasing.settle(1);
    releasing.settle(1);
    releasing.settle(2);
    expect(ran).toEqual(['1a', '1b', '2a']);
  });
});
