// The oneInFlight rule as a pure decision: which workers a oneInFlight policy is offered, from each
// worker's unacknowledged connections and those of them sent in an earlier turn of the loop.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@handoff/policies/testkit';
import { offerOneBatch, type InFlightView } from '../src/one-batch.js';

interface W extends InFlightView {
  readonly id: number;
  inFlight: number;
  inFlightBeforeThisTurn: number;
}

const worker = (id: number, inFlight = 0, inFlightBeforeThisTurn = inFlight): W => ({ id, inFlight, inFlightBeforeThisTurn });
const ids = (ws: readonly W[]): number[] => ws.map((w) => w.id);

describe('offerOneBatch', () => {
  it('offers nobody when there is nobody', () => {
    expect(offerOneBatch([], 3, [])).toEqual([]);
  });

  it('IPC (both counts equal): exactly the workers with nothing in flight, whatever waits', () => {
    const ws = [worker(1, 0), worker(2, 1), worker(3, 0), worker(4, 5)];
    for (const waiting of [1, 2, 10, 1000]) expect(ids(offerOneBatch(ws, waiting, []))).toEqual([1, 3]);
    expect(offerOneBatch([worker(1, 1), worker(2, 2)], 50, [])).toEqual([]);
  });

  it('a worker with anything unacknowledged from an earlier turn is not offered, however little it got in this one', () => {
    const ws = [worker(1, 3, 1), worker(2, 0, 0)];
    expect(ids(offerOneBatch(ws, 10, []))).toEqual([2]);
  });

  it('this turn: a worker takes up to its fair share of what was placed in it and what waits', () => {
    // 2 placed in this turn (1 each), 1 being placed: ceil(3 / 2) = 2, both may take it.
    expect(ids(offerOneBatch([worker(1, 1, 0), worker(2, 1, 0)], 1, []))).toEqual([1, 2]);
    // 3 placed (2 + 1), 1 being placed: ceil(4 / 2) = 2, only the one with 1.
    expect(ids(offerOneBatch([worker(1, 2, 0), worker(2, 1, 0)], 1, []))).toEqual([2]);
    // The other worker is busy from an earlier turn: the free one takes half of what waits (8 of 16)...
    const lone = worker(1, 0, 0);
    const busy = worker(2, 1, 1);
    for (let placed = 0; placed < 8; placed++) {
      lone.inFlight = placed;
      expect(ids(offerOneBatch([lone, busy], 16 - placed, []))).toEqual([1]);
    }
    // ...and the rest waits for the busy one's acknowledgement (or the next turn).
    lone.inFlight = 8;
    expect(offerOneBatch([lone, busy], 8, [])).toEqual([]);
  });

  it('reuses and returns `out`', () => {
    const out: W[] = [worker(9)];
    const ws = [worker(1), worker(2, 1)];
    expect(offerOneBatch(ws, 1, out)).toBe(out);
    expect(ids(out)).toEqual([1]);
  });

  it('property: never offers a worker with earlier work in flight; offers someone whenever nobody has any', () => {
    const next = seededRandom(26);
    for (let run = 0; run < 2000; run++) {
      const n = 1 + Math.floor(next() * 8);
      const ws = Array.from({ length: n }, (_, i) => {
        const before = next() < 0.4 ? Math.floor(next() * 4) : 0;
        return worker(i + 1, before + Math.floor(next() * 5), before);
      });
      const waiting = 1 + Math.floor(next() * 20);
      const offered = offerOneBatch(ws, waiting, []);
      for (const w of offered) expect(w.inFlightBeforeThisTurn).toBe(0);
      if (ws.every((w) => w.inFlightBeforeThisTurn === 0)) expect(offered.length).toBeGreaterThan(0);
      // Nobody offered holds its fair share of this turn yet.
      const thisTurn = ws.reduce((sum, w) => sum + w.inFlight - w.inFlightBeforeThisTurn, 0);
      for (const w of offered) expect(w.inFlight).toBeLessThan(Math.ceil((thisTurn + waiting) / n));
    }
  });

  it('property: placing one connection after another in one turn, as the dispatcher does, spreads them within one of even', () => {
    const next = seededRandom(7);
    for (let run = 0; run < 500; run++) {
      const n = 1 + Math.floor(next() * 6);
      const ws = Array.from({ length: n }, (_, i) => worker(i + 1, 0, 0));
      const burst = 1 + Math.floor(next() * 40);
      for (let k = 0; k < burst; k++) {
        const offered = offerOneBatch(ws, 1, []);
        expect(offered.length).toBeGreaterThan(0);
        // Any of them may be picked (a random policy): the bound holds anyway.
        offered[Math.floor(next() * offered.length)]!.inFlight++;
      }
      const counts = ws.map((w) => w.inFlight);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
  });
});
