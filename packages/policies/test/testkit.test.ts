import { describe, expect, it } from 'vitest';
import { leastConnections, powerOfTwoChoices, roundRobin, sharedHandle, type PrimaryPolicy, type WorkerView } from '@handoff/policies';
import { ConformanceError, runConformance, seededRandom, simulate } from '@handoff/policies/testkit';

describe('runConformance catches broken policies', () => {
  const broken: Array<[string, () => PrimaryPolicy, RegExp]> = [
    ['a worker outside the view', () => ({ mode: 'primary', name: 'outsider', pick: (ws) => (ws.length === 0 ? undefined : { ...ws[0]! }) }), /not in the view/],
    ['a pick on an empty view', () => ({ mode: 'primary', name: 'phantom', pick: (ws) => ws[0] ?? ({ id: 1 } as WorkerView) }), /pick\(\[\]\) must return undefined/],
    ['Math.random instead of the seeded source', () => ({ mode: 'primary', name: 'unseeded', pick: (ws) => ws[Math.floor(Math.random() * ws.length)] }), /picked differently/],
    ['a write to the view', () => ({ mode: 'primary', name: 'writer', pick: (ws) => { const w = ws[0]; if (w) (w as { connections: number }).connections++; return w; } }), /threw TypeError/],
    ['a worker that left', () => {
      let kept: WorkerView | undefined;
      return { mode: 'primary', name: 'sticky', pick: (ws) => (kept ??= ws[0]) ?? ws[0] };
    }, /not in the view|which left/],
    ['a slow pick', () => ({ mode: 'primary', name: 'slow', pick: (ws) => { let x = 0; for (let i = 0; i < 20_000; i++) x += i; return ws[x % 1]; } }), /budget/],
  ];
  for (const [what, factory, message] of broken) {
    it(what, () => {
      let caught: unknown;
      try {
        runConformance(factory, { picks: 300, budgetNs: 2_000 });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ConformanceError);
      expect((caught as ConformanceError).message).toMatch(message);
      expect((caught as ConformanceError).report.checks.some((c) => !c.ok)).toBe(true);
    });
  }

  it('checks only the shape of a kernel-mode policy', () => {
    expect(runConformance(() => sharedHandle()).checks.map((c) => c.name)).toEqual(['shape']);
  });
});

describe('simulate', () => {
  const slowed = { workers: [{}, {}, {}, { speed: 0.25 }], arrivalRate: 1500, connections: 20_000, seed: 42 };

  it('reports shares that sum to 1, and is deterministic for a seed', () => {
    const a = simulate(powerOfTwoChoices({ random: seededRandom(1) }), slowed);
    const b = simulate(powerOfTwoChoices({ random: seededRandom(1) }), slowed);
    expect(a).toEqual(b);
    expect(a.share.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
    expect(a.workShare.reduce((x, y) => x + y, 0)).toBeCloseTo(1, 9);
    expect(a.unpicked).toBe(0);
  });

  it('shows a slowed worker: round-robin overloads it, least-connections relieves it', () => {
    const rr = simulate(roundRobin(), slowed);
    const lc = simulate(leastConnections(), slowed);
    expect(rr.share).toEqual([0.25, 0.25, 0.25, 0.25]);
    expect(lc.share[3]!).toBeLessThan(0.2);
    expect(lc.cv).toBeLessThan(rr.cv);
    expect(lc.p99).toBeLessThan(rr.p99);
    expect(rr.p50).toBeLessThanOrEqual(rr.p99);
  });

  it('replays connections with several requests, think time and lifetimes', () => {
    const r = simulate(roundRobin(), { workers: 3, arrivalRate: 300, connections: 3000, requestsPerConnection: 5, thinkTime: 20, connectionLifetime: 2000, seed: 3 });
    expect(r.share).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(r.durationMs).toBeGreaterThan(3000 / 300 * 1000 * 0.8);
  });

  it('offers a oneInFlight policy only the workers with nothing in flight, and holds the rest in the primary', () => {
    let offeredBusy = 0;
    let picks = 0;
    const first: PrimaryPolicy = { mode: 'primary', name: 'first', oneInFlight: true, pick: (ws) => { picks++; offeredBusy += ws.filter((w) => w.inFlight > 0).length; return ws[0]; } };
    // Overloaded on purpose: the primary must hold connections, and every one is still placed.
    const r = simulate(first, { workers: 2, arrivalRate: 3000, connections: 3000, requestCost: 1, seed: 5 });
    expect(offeredBusy).toBe(0);
    expect(picks).toBe(3000);
    expect(r.unpicked).toBe(0);
    expect(r.responseP99).toBeGreaterThan(r.p99);
  });

  it('with reportInterval, eventLoopDelay and reportedAt change only at each worker\'s reports', () => {
    const seen = new Map<number, Set<number>>();
    const spy: PrimaryPolicy = { mode: 'primary', name: 'spy', pick: (ws) => { for (const w of ws) { const s = seen.get(w.id) ?? new Set(); s.add(w.reportedAt); seen.set(w.id, s); } return ws[0]; } };
    simulate(spy, { workers: 2, arrivalRate: 1000, connections: 5000, reportInterval: 1000, requestCost: (r) => (r() < 0.1 ? 10 : 0.1), seed: 2 });
    for (const times of seen.values()) {
      expect(times.size).toBeGreaterThan(3);
      expect(times.size).toBeLessThanOrEqual(6);
      // Worker phases spread over the period: 2 workers report at 500 ms and 1000 ms past each second.
      for (const t of times) expect(t % 500).toBe(0);
    }
  });

  it('refuses a kernel-mode policy', () => {
    expect(() => simulate(sharedHandle())).toThrow(TypeError);
  });
});
