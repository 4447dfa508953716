import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  balancedShared,
  HandoffPolicyError,
  ipHash,
  leastConnections,
  peakEwma,
  powerOfTwoChoices,
  random,
  reusePort,
  roundRobin,
  sharedHandle,
  weighted,
  type ConnectionInfo,
  type Policy,
  type PrimaryPolicy,
  type WorkerView,
} from '@handoff/policies';
import { runConformance, seededRandom, type PolicyFactory } from '@handoff/policies/testkit';

const kHandoffError = Symbol.for('handoff.error');
const noAddress: ConnectionInfo = { listener: 0, remoteAddress: undefined, remotePort: undefined, family: undefined };
const from = (address: string): ConnectionInfo => ({ listener: 0, remoteAddress: address, remotePort: 40000, family: 'IPv4' });
const view = (id: number, slot = id - 1, extra: Partial<WorkerView> = {}): WorkerView => ({ id, slot, weight: 1, connections: 0, inFlight: 0, requests: 0, eventLoopDelay: 0, readySince: 0, reportedAt: 0, ...extra });
const pool = (n: number): WorkerView[] => Array.from({ length: n }, (_, i) => view(i + 1));
const addresses = (count: number, seed = 7): string[] => {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => `${1 + Math.floor(rand() * 223)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`);
};

const builtins: Record<string, PolicyFactory> = {
  'round-robin': () => roundRobin(),
  'least-connections': () => leastConnections(),
  weighted: () => weighted({ weights: [5, 1, 1, 2] }),
  'power-of-two-choices': ({ random: r }) => powerOfTwoChoices({ random: r }),
  'ip-hash': () => ipHash({ vnodes: 64 }),
  random: ({ random: r }) => random({ random: r }),
  'peak-ewma': ({ random: r }) => peakEwma({ random: r }),
  shared: () => sharedHandle(),
  'balanced-shared': () => balancedShared(),
  reuseport: () => reusePort(),
};

describe('every built-in passes the conformance suite', () => {
  for (const [name, factory] of Object.entries(builtins)) {
    it(name, () => {
      // A generous budget: this machine is shared; bench/pick.mjs measures the real figure.
      const report = runConformance(factory, { budgetNs: 100_000 });
      expect(report.policy).toBe(name);
      expect(report.checks.every((c) => c.ok)).toBe(true);
    });
  }
});

describe('options are validated with a typed error', () => {
  const bad: Array<[string, () => Policy]> = [
    ['weighted without weights', () => weighted(undefined as never)],
    ['weighted, empty', () => weighted({ weights: [] })],
    ['weighted, zero', () => weighted({ weights: [1, 0] })],
    ['weighted, negative', () => weighted({ weights: [-1] })],
    ['weighted, NaN', () => weighted({ weights: [Number.NaN] })],
    ['ipHash, vnodes 0', () => ipHash({ vnodes: 0 })],
    ['ipHash, vnodes 1.5', () => ipHash({ vnodes: 1.5 })],
    ['powerOfTwoChoices, random not a function', () => powerOfTwoChoices({ random: 3 as never })],
    ['random, random not a function', () => random({ random: 'x' as never })],
    ['balancedShared, tolerance 0', () => balancedShared({ tolerance: 0 })],
    ['balancedShared, slack -1', () => balancedShared({ slack: -1 })],
    ['balancedShared, busyAfter -1', () => balancedShared({ busyAfter: -1 })],
    ['balancedShared, busyAfter 2.5', () => balancedShared({ busyAfter: 2.5 })],
    ['balancedShared, busyAfter 1001', () => balancedShared({ busyAfter: 1001 })],
    ['balancedShared, an unknown option', () => balancedShared({ busyafter: 4 } as never)],
    ['peakEwma, decay 0', () => peakEwma({ decay: 0 })],
    ['peakEwma, decay NaN', () => peakEwma({ decay: Number.NaN })],
    ['peakEwma, decay past 600000', () => peakEwma({ decay: 600_001 })],
    ['peakEwma, decay a string', () => peakEwma({ decay: '100' as never })],
    ['peakEwma, random not a function', () => peakEwma({ random: 1 as never })],
    ['peakEwma, an unknown option', () => peakEwma({ decayMs: 100 } as never)],
  ];
  for (const [name, make] of bad) {
    it(name, () => {
      let caught: unknown;
      try {
        make();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(HandoffPolicyError);
      expect((caught as HandoffPolicyError).code).toBe('HANDOFF_ERR_INVALID_POLICY_OPTION');
      // The brand @handoff/protocol's HandoffError recognizes, so `instanceof HandoffError` holds.
      expect((caught as Record<symbol, unknown>)[kHandoffError]).toBe(true);
    });
  }
});

describe('leastConnections', () => {
  it('picks the fewest open connections for the weight, rotating among equals', () => {
    const p = leastConnections();
    expect(p.pick([view(1, 0, { connections: 3 }), view(2, 1, { connections: 1 }), view(3, 2, { connections: 2 })], noAddress)?.id).toBe(2);
    expect(p.pick([view(1, 0, { connections: 4, weight: 4 }), view(2, 1, { connections: 2 })], noAddress)?.id).toBe(1);
    const idle = pool(3);
    expect([1, 2, 3, 4].map(() => p.pick(idle, noAddress)?.id)).toEqual([2, 3, 1, 2]);
  });

  it('passes over a worker with connections in flight (busy), whatever its open connections', () => {
    const p = leastConnections();
    expect(p.pick([view(1, 0, { connections: 0, inFlight: 2 }), view(2, 1, { connections: 30 })], noAddress)?.id).toBe(2);
    expect(p.pick([view(1, 0, { connections: 0, inFlight: 2 }), view(2, 1, { connections: 30, inFlight: 1 })], noAddress)?.id).toBe(2);
    expect(p.pick([view(1, 0, { connections: 5, inFlight: 1 }), view(2, 1, { connections: 3, inFlight: 1 })], noAddress)?.id).toBe(2);
  });

  it('keeps open connections within one of each other when it alone dispatches (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 300 }), (n, ops) => {
        const p = leastConnections();
        const ws = Array.from({ length: n }, (_, i) => ({ ...view(i + 1) }));
        for (const [open, k] of ops) {
          if (open) (p.pick(ws, noAddress) as { connections: number }).connections++;
          else {
            // A close everywhere keeps the spread; one close can open a gap of at most 2.
            for (const w of ws) if (w.connections > 0) w.connections--;
            void k;
          }
          const counts = ws.map((w) => w.connections);
          if (Math.max(...counts) - Math.min(...counts) > 1) return false;
        }
        return true;
      }),
      { numRuns: 200 },
    );
  });
});

describe('weighted', () => {
  it('is smooth: weights 5, 1, 1 interleave as nginx does', () => {
    const p = weighted({ weights: [5, 1, 1] });
    const ws = pool(3);
    expect(Array.from({ length: 7 }, () => p.pick(ws, noAddress)!.id)).toEqual([1, 1, 2, 1, 3, 1, 1]);
  });

  it('gives each worker its weight share within 1% over 10,000 picks', () => {
    const weights = [1, 2, 3, 4];
    const p = weighted({ weights });
    const ws = pool(4);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 10_000; i++) counts[p.pick(ws, noAddress)!.slot]!++;
    for (let k = 0; k < 4; k++) expect(Math.abs(counts[k]! / 10_000 - weights[k]! / 10)).toBeLessThan(0.01);
  });

  it('matches the weights within 1% for any weights (property), and keys them by slot', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 8 }), (weights) => {
        const p = weighted({ weights });
        // Replacement workers: new ids, the old slots, in another order of ids.
        const ws = weights.map((_, slot) => view(100 + (weights.length - slot), slot)).sort((a, b) => a.id - b.id);
        const counts = new Map<number, number>();
        for (let i = 0; i < 10_000; i++) {
          const slot = p.pick(ws, noAddress)!.slot;
          counts.set(slot, (counts.get(slot) ?? 0) + 1);
        }
        const sum = weights.reduce((a, b) => a + b, 0);
        return weights.every((w, slot) => Math.abs((counts.get(slot) ?? 0) / 10_000 - w / sum) < 0.01);
      }),
      { numRuns: 50 },
    );
  });

  it("falls back to a worker's own weight past the weights given", () => {
    const p = weighted({ weights: [3] });
    const ws = [view(1, 0), view(2, 1, { weight: 1 })];
    const counts = [0, 0];
    for (let i = 0; i < 400; i++) counts[p.pick(ws, noAddress)!.slot]!++;
    expect(counts).toEqual([300, 100]);
  });

  it('survives a view edited in place', () => {
    const p = weighted({ weights: [1, 1, 1] });
    const ws = pool(3);
    p.pick(ws, noAddress);
    ws[1] = view(9, 1);
    const seen = new Set(Array.from({ length: 30 }, () => p.pick(ws, noAddress)!.id));
    expect([...seen].sort()).toEqual([1, 3, 9]);
  });
});

describe('ipHash', () => {
  const assign = (p: PrimaryPolicy, ws: readonly WorkerView[], addrs: readonly string[]): Map<string, number> =>
    new Map(addrs.map((a) => [a, p.pick(ws, from(a))!.slot]));

  it('asks for the remote address, and maps one address to one worker', () => {
    const p = ipHash();
    expect(p.needsRemoteAddress).toBe(true);
    const ws = pool(4);
    const first = p.pick(ws, from('203.0.113.9'))!.id;
    for (let i = 0; i < 50; i++) expect(p.pick(ws, from('203.0.113.9'))!.id).toBe(first);
  });

  it('spreads addresses evenly: with 8 workers each gets 12.5% within a third', () => {
    const ws = pool(8);
    const counts = new Array<number>(8).fill(0);
    for (const slot of assign(ipHash(), ws, addresses(20_000)).values()) counts[slot]!++;
    for (const c of counts) expect(Math.abs(c / 20_000 - 1 / 8)).toBeLessThan(0.125 / 3);
  });

  it('removing one of N moves only its addresses (about 1/N); adding one moves about 1/(N+1)', () => {
    const addrs = addresses(20_000);
    for (const n of [3, 4, 8, 16]) {
      const p = ipHash();
      const before = assign(p, pool(n), addrs);
      // Remove the worker of slot 1.
      const removed = pool(n).filter((w) => w.slot !== 1);
      const after = assign(p, removed, addrs);
      let moved = 0;
      for (const [a, slot] of before) {
        if (slot !== 1) expect(after.get(a)).toBe(slot); // nobody else moves
        if (after.get(a) !== slot) moved++;
      }
      expect(Math.abs(moved / addrs.length - 1 / n)).toBeLessThan(0.5 / n);
      // Add a worker in a new slot.
      const grown = [...pool(n), view(n + 1, n)];
      const added = assign(p, grown, addrs);
      let movedToNew = 0;
      for (const [a, slot] of before) {
        const now = added.get(a)!;
        if (now !== slot) {
          expect(now).toBe(n); // an address moves only to the newcomer
          movedToNew++;
        }
      }
      expect(Math.abs(movedToNew / addrs.length - 1 / (n + 1))).toBeLessThan(0.5 / (n + 1));
    }
  });

  it('a replacement worker (new id, same slot) keeps every address of the one it replaces', () => {
    const p = ipHash();
    const addrs = addresses(2000);
    const before = assign(p, pool(4), addrs);
    const replaced = [view(1, 0), view(3, 2), view(4, 3), view(7, 1)];
    expect(assign(p, replaced, addrs)).toEqual(before);
  });

  it('is stable for any set of slots (property: removing a slot moves only its addresses)', () => {
    const addrs = addresses(500, 3);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { minLength: 2, maxLength: 12 }), fc.nat(), (slots, k) => {
        const sorted = [...slots].sort((a, b) => a - b);
        const ws = sorted.map((slot, i) => view(i + 1, slot));
        const p = ipHash({ vnodes: 32 });
        const before = assign(p, ws, addrs);
        const gone = sorted[k % sorted.length]!;
        const after = assign(p, ws.filter((w) => w.slot !== gone), addrs);
        return [...before].every(([a, slot]) => slot === gone || after.get(a) === slot);
      }),
      { numRuns: 100 },
    );
  });

  it('takes turns without an address (Unix sockets)', () => {
    const p = ipHash();
    const ws = pool(3);
    expect(Array.from({ length: 4 }, () => p.pick(ws, noAddress)!.id)).toEqual([1, 2, 3, 1]);
  });
});

describe('powerOfTwoChoices and random', () => {
  it('powerOfTwoChoices takes the less loaded of two distinct draws', () => {
    const ws = [view(1, 0, { connections: 10 }), view(2, 1, { connections: 0 })];
    const p = powerOfTwoChoices({ random: seededRandom(3) });
    for (let i = 0; i < 20; i++) expect(p.pick(ws, noAddress)!.id).toBe(2);
    expect(p.pick([view(5)], noAddress)!.id).toBe(5);
    const busy = [view(1, 0, { connections: 0, inFlight: 1 }), view(2, 1, { connections: 10 })];
    for (let i = 0; i < 20; i++) expect(p.pick(busy, noAddress)!.id).toBe(2);
  });

  it('the load-aware policies ask for one connection in flight per worker; the others do not', () => {
    expect(leastConnections().oneInFlight).toBe(true);
    expect(powerOfTwoChoices().oneInFlight).toBe(true);
    expect(peakEwma().oneInFlight).toBe(true);
    for (const p of [roundRobin(), weighted({ weights: [1, 2] }), ipHash(), random()]) expect(p.oneInFlight).toBeUndefined();
  });

  it('random is uniform: each of 4 workers gets 25% within 2% over 20,000 picks', () => {
    const p = random({ random: seededRandom(11) });
    const ws = pool(4);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[p.pick(ws, noAddress)!.slot]!++;
    for (const c of counts) expect(Math.abs(c / 20_000 - 0.25)).toBeLessThan(0.02);
  });

  it('random never leaves the view even if the source returns 1 or a negative', () => {
    const ws = pool(3);
    expect(random({ random: () => 1 }).pick(ws, noAddress)).toBe(ws[2]);
    expect(random({ random: () => -0.5 }).pick(ws, noAddress)).toBe(ws[0]);
    expect(powerOfTwoChoices({ random: () => 1 }).pick(ws, noAddress)).toBeDefined();
  });
});

describe('the kernel modes', () => {
  it('name their mode', () => {
    expect(sharedHandle()).toEqual({ mode: 'shared', name: 'shared' });
    expect(reusePort()).toEqual({ mode: 'reuseport', name: 'reuseport' });
    expect(balancedShared()).toMatchObject({ mode: 'shared', name: 'balanced-shared', balance: { tolerance: 0.05, slack: 0, busyAfter: 0 } });
    expect(balancedShared({ busyAfter: 0 }).balance).toMatchObject({ busyAfter: 0 });
  });

  it('names an unknown option of balancedShared() and the ones it takes', () => {
    expect(() => balancedShared({ busyafter: 4 } as never)).toThrow('balancedShared(): busyafter is not an option (use tolerance, slack, busyAfter)');
  });
});
