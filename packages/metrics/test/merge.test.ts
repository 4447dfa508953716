// What the workers' answers become before prom-client aggregates them, without a process: malformed
// metrics and samples left out (never a failed scrape), handoff's own names reserved, a worker label
// per slot, type conflicts dropped; and the queue-wait histogram counted in place.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { appMetricSets, dropConflicts } from '../src/merge.js';
import { Histogram, WAIT_BUCKETS } from '../src/series.js';

type Answer = Parameters<typeof appMetricSets>[0][number];

function answer(instance: number, metrics: unknown, status: Answer['status'] = 'ok'): Answer {
  return { worker: { instance } as Answer['worker'], status, metrics };
}

const counter = (name: string, value = 1, labels: Record<string, unknown> = {}): unknown => ({ name, help: `${name} help`, type: 'counter', aggregator: 'sum', values: [{ value, labels }] });

describe('appMetricSets', () => {
  it('keeps each answering worker\'s well-formed metrics, and leaves out workers that did not answer', () => {
    const sets = appMetricSets([answer(0, [counter('a_total', 2)]), answer(1, undefined, 'timeout'), answer(2, [counter('a_total', 3)])], false, new Set());
    expect(sets).toEqual([
      [{ name: 'a_total', help: 'a_total help', type: 'counter', aggregator: 'sum', values: [{ value: 2, labels: {} }] }],
      [{ name: 'a_total', help: 'a_total help', type: 'counter', aggregator: 'sum', values: [{ value: 3, labels: {} }] }],
    ]);
  });

  it('leaves out what is malformed: bad names, types, values and labels; reserved names; a sample at a time', () => {
    const metrics = [
      null,
      'x',
      { name: '1bad', type: 'counter', values: [] },
      { name: 'ok_gauge', type: 'gauge', values: [{ value: 1 }, { value: null }, { value: 2, labels: { 'bad-label': 'x' } }, { value: 3, labels: { good: 7, flag: true } }, { value: 4, labels: 5 }] },
      { name: 'no_type', values: [] },
      { name: 'weird_type', type: 'untyped', values: [] },
      { name: 'no_values', type: 'counter' },
      counter('handoff_workers'),
      { name: 'h', type: 'histogram', aggregator: 'bogus', values: [{ value: 1, labels: { le: '0.1' }, metricName: 'h_bucket' }, { value: 1, metricName: 'h bucket' }] },
    ];
    const [set] = appMetricSets([answer(0, metrics)], false, new Set(['handoff_workers']));
    expect(set).toEqual([
      { name: 'ok_gauge', help: 'ok_gauge', type: 'gauge', aggregator: 'sum', values: [{ value: 1, labels: {} }, { value: 3, labels: { good: '7', flag: 'true' } }] },
      { name: 'h', help: 'h', type: 'histogram', aggregator: 'sum', values: [{ value: 1, labels: { le: '0.1' }, metricName: 'h_bucket' }] },
    ]);
  });

  it('per worker: labels each sample with the slot and sums, so each worker\'s series stays its own', () => {
    const sets = appMetricSets([answer(0, [{ ...(counter('g', 5) as object), type: 'gauge', aggregator: 'max' }]), answer(3, [counter('g', 6)])], true, new Set());
    expect(sets.map((s) => s.map((m) => [m.aggregator, m.values]))).toEqual([[['sum', [{ value: 5, labels: { worker: '0' } }]]], [['sum', [{ value: 6, labels: { worker: '3' } }]]]]);
  });

  it('never throws, whatever a worker sends (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.anything(), { maxLength: 5 }), fc.boolean(), (metrics, perWorker) => {
        const sets = appMetricSets([answer(0, metrics)], perWorker, new Set());
        return sets.length === 1 && sets[0]!.every((m) => typeof m.name === 'string' && Array.isArray(m.values));
      }),
    );
  });
});

describe('dropConflicts', () => {
  it('drops a name whose type differs across workers from every set, and keeps the rest as they are', () => {
    const sets = appMetricSets([answer(0, [counter('x'), counter('y')]), answer(1, [{ ...(counter('x') as object), type: 'gauge' }, counter('y')])], false, new Set());
    expect(dropConflicts(sets).map((s) => s.map((m) => m.name))).toEqual([['y'], ['y']]);
    const agreeing = appMetricSets([answer(0, [counter('z')]), answer(1, [counter('z')])], false, new Set());
    expect(dropConflicts(agreeing)).toBe(agreeing);
  });
});

describe('Histogram (queue wait)', () => {
  it('counts each observation in every bucket at or above it, with the sum and count (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 20, noNaN: true }), { maxLength: 50 }), (seconds) => {
        const h = new Histogram();
        for (const s of seconds) h.observe(s);
        const m = h.toJson('w', 'w');
        const buckets = m.values.filter((v) => v.metricName?.endsWith('_bucket'));
        const expected = [...WAIT_BUCKETS.map((le) => seconds.filter((s) => s <= le).length), seconds.length];
        const count = m.values.find((v) => v.metricName?.endsWith('_count'))?.value;
        return JSON.stringify(buckets.map((b) => b.value)) === JSON.stringify(expected) && count === seconds.length;
      }),
    );
  });
});
