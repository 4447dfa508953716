import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HandoffPolicyError, leastConnections, peakEwma, powerOfTwoChoices, type ConnectionInfo, type WorkerView } from '@handoff/policies';
import { runConformance, seededRandom, simulate, type Workload } from '@handoff/policies/testkit';

const noAddress: ConnectionInfo = { listener: 0, remoteAddress: undefined, remotePort: undefined, family: undefined };
const view = (id: number, extra: Partial<WorkerView> = {}): WorkerView =>
  Object.freeze({ id, slot: id - 1, weight: 1, connections: 0, inFlight: 0, requests: 0, eventLoopDelay: 0, readySince: 0, reportedAt: 0, ...extra });

describe('peakEwma', () => {
  it('passes the conformance suite', () => {
    const report = runConformance(({ random }) => peakEwma({ random }), { budgetNs: 100_000 });
    expect(report.policy).toBe('peak-ewma');
    expect(report.checks.every((c) => c.ok)).toBe(true);
  });

  it('names the option it refuses', () => {
    expect(() => peakEwma({ decay: 0 })).toThrow(/peakEwma\(\): decay must be a number of ms in \[1, 600000\], got 0/);
    expect(() => peakEwma({ decay: 5, window: 3 } as never)).toThrow(/peakEwma\(\): window is not an option \(use decay, random\)/);
    expect(() => peakEwma({ random: 'x' as never })).toThrow(HandoffPolicyError);
  });

  it('of two workers, takes the lower (delay + 1) x (connections + 1) / weight (property)', () => {
    const load = fc.record({ eventLoopDelay: fc.double({ min: 0, max: 500, noNaN: true }), connections: fc.nat(200), weight: fc.integer({ min: 1, max: 4 }) });
    fc.assert(
      fc.property(load, load, fc.double({ min: 0, max: 0.999, noNaN: true }), (x, y, r) => {
        const a = view(1, x);
        const b = view(2, y);
        const chosen = peakEwma({ random: () => r }).pick([a, b], noAddress);
        const cost = (w: WorkerView): number => ((w.eventLoopDelay + 1) * (w.connections + 1)) / w.weight;
        return cost(chosen!) <= cost(chosen === a ? b : a);
      }),
      { numRuns: 500 },
    );
  });

  it('jumps to a new peak at once, and decays from it with time constant decay, measured between reports', () => {
    const p = peakEwma({ decay: 1000, random: seededRandom(1) });
    const idle = view(2, { eventLoopDelay: 0, connections: 36, reportedAt: 0 });
    const slow = view(1, { eventLoopDelay: 100, reportedAt: 0 });
    p.join?.(slow);
    p.join?.(idle);
    // The peak: 101 x 1 against 1 x 37.
    expect(p.pick([slow, idle], noAddress)).toBe(idle);
    // One time constant later the slow worker reports 0: its cost is 100/e + 1 = 37.79 (x 1), the
    // idle one's 1 x 37, then 1 x 38.
    const recovered = view(1, { eventLoopDelay: 0, reportedAt: 1000 });
    expect(p.pick([recovered, idle], noAddress)).toBe(idle);
    const busier = view(2, { eventLoopDelay: 0, connections: 37, reportedAt: 0 });
    expect(p.pick([recovered, busier], noAddress)).toBe(recovered);
    // A new peak is taken at once, however recent the last report.
    const again = view(1, { eventLoopDelay: 300, reportedAt: 1001 });
    expect(p.pick([again, busier], noAddress)).toBe(busier);
  });

  it('decays only with time: a report repeated at the same reportedAt changes nothing', () => {
    const p = peakEwma({ decay: 1000, random: seededRandom(1) });
    const other = view(2, { connections: 49 });
    p.pick([view(1, { eventLoopDelay: 99, reportedAt: 5 }), other], noAddress);
    for (let i = 0; i < 100; i++) expect(p.pick([view(1, { eventLoopDelay: 0, reportedAt: 5 }), other], noAddress)?.id).toBe(2);
  });

  it('never prefers a worker dominated in every report so far (property)', () => {
    // Worker 1 always reports at least worker 2's delay and holds at least its connections, one of
    // them strictly more: whatever the history, worker 2 is no worse.
    const step = fc.record({ delay: fc.double({ min: 0, max: 200, noNaN: true }), extra: fc.double({ min: 0, max: 50, noNaN: true }), conns: fc.nat(20), dt: fc.integer({ min: 0, max: 3000 }) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 30 }), (steps) => {
        const p = peakEwma({ decay: 500, random: seededRandom(3) });
        let t = 0;
        for (const s of steps) {
          t += s.dt;
          const worse = view(1, { eventLoopDelay: s.delay + s.extra + 1, connections: s.conns, reportedAt: t });
          const better = view(2, { eventLoopDelay: s.delay, connections: s.conns, reportedAt: t });
          if (p.pick([worse, better], noAddress) !== better) return false;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('forgets a worker that left: its replacement starts from its own report', () => {
    const p = peakEwma({ decay: 600_000, random: seededRandom(1) });
    const old = view(1, { eventLoopDelay: 400 });
    p.join?.(old);
    p.pick([old, view(2)], noAddress);
    p.leave?.(old);
    const replacement = view(3, { slot: 0, eventLoopDelay: 0 });
    p.join?.(replacement);
    expect(p.pick([view(2, { connections: 1 }), replacement], noAddress)?.id).toBe(3);
  });
});

describe('simulate: one worker slowed 10x for 6 s, CPU-heavy requests', () => {
  // Four workers; the fourth runs at a tenth of its speed from 3 s to 9 s of a 15 s replay. Every
  // request is CPU (exponential, 2 ms on average); workers report their load once a second, as the
  // real ones sample their event-loop delay, so the policy sees the slowdown up to a second late.
  const slowed = (t: number): number => (t >= 3000 && t < 9000 ? 0.1 : 1);
  const workload = (arrivalRate: number, seed: number): Workload => ({
    workers: [{}, {}, {}, { speed: slowed }],
    arrivalRate,
    connections: arrivalRate * 15,
    requestCost: (r) => -2 * Math.log(1 - r()),
    reportInterval: 1000,
    seed,
  });
  const policies = {
    'least-connections': () => leastConnections(),
    'power-of-two-choices': (seed: number) => powerOfTwoChoices({ random: seededRandom(seed) }),
    'peak-ewma': (seed: number) => peakEwma({ random: seededRandom(seed) }),
  };

  it("peak EWMA's p99 response time is below least-connections' and power-of-two-choices'", () => {
    const rows: string[] = ['| load | policy | p50 ms | p99 ms | p99 wait ms | slow worker share |', '| --- | --- | --- | --- | --- | --- |'];
    for (const [rate, label] of [
      [800, '40 %'],
      [1100, '55 %'],
    ] as const) {
      const p99 = new Map<string, number[]>();
      for (const seed of [1, 2, 3]) {
        for (const [name, make] of Object.entries(policies)) {
          const r = simulate(make(seed), workload(rate, seed));
          p99.set(name, [...(p99.get(name) ?? []), r.responseP99]);
          if (seed === 1) rows.push(`| ${label} (${rate}/s) | ${name} | ${r.responseP50.toFixed(1)} | ${r.responseP99.toFixed(1)} | ${r.p99.toFixed(1)} | ${(r.share[3]! * 100).toFixed(1)} % |`);
        }
      }
      // Every seed, not only the one printed.
      for (let s = 0; s < 3; s++) {
        const pe = p99.get('peak-ewma')![s]!;
        expect(pe).toBeLessThan(p99.get('least-connections')![s]!);
        expect(pe).toBeLessThan(p99.get('power-of-two-choices')![s]!);
      }
    }
    console.log(rows.join('\n'));
  });
});
