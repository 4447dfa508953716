import type { WorkerMetrics } from '@handoff/orchestrator';
import type { Labels, MetricJson, Sample } from './series.js';

const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary']);
const AGGREGATORS = new Set(['sum', 'first', 'min', 'max', 'average', 'omit']);
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * The app's metrics of each worker that answered, checked (what a worker sends is the app's: a
 * malformed metric is left out, never a failed scrape) and ready for `AggregatorRegistry.aggregate`.
 * Names in `reserved` (handoff's own) are left out. `perWorker`: each sample gets a `worker` label
 * (the slot) and every metric is summed, which, label sets being disjoint, keeps each worker's.
 */
export function appMetricSets(answers: readonly WorkerMetrics[], perWorker: boolean, reserved: ReadonlySet<string>): MetricJson[][] {
  const sets: MetricJson[][] = [];
  for (const answer of answers) {
    if (answer.status !== 'ok' || !Array.isArray(answer.metrics)) continue;
    const worker = String(answer.worker.instance);
    const set: MetricJson[] = [];
    for (const raw of answer.metrics as unknown[]) {
      const m = checkMetric(raw, reserved);
      if (m === undefined) continue;
      if (!perWorker) set.push(m);
      else set.push({ ...m, aggregator: 'sum', values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) });
    }
    sets.push(set);
  }
  return sets;
}

/** Names of metrics that disagree across workers on their type: aggregating them would mislead, so they are dropped. */
export function dropConflicts(sets: MetricJson[][]): MetricJson[][] {
  const types = new Map<string, string>();
  const conflicting = new Set<string>();
  for (const set of sets) {
    for (const m of set) {
      const t = types.get(m.name);
      if (t === undefined) types.set(m.name, m.type);
      else if (t !== m.type) conflicting.add(m.name);
    }
  }
  if (conflicting.size === 0) return sets;
  return sets.map((set) => set.filter((m) => !conflicting.has(m.name)));
}

function checkMetric(raw: unknown, reserved: ReadonlySet<string>): MetricJson | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const m = raw as Record<string, unknown>;
  if (typeof m.name !== 'string' || !NAME.test(m.name) || reserved.has(m.name)) return undefined;
  if (typeof m.type !== 'string' || !TYPES.has(m.type) || !Array.isArray(m.values)) return undefined;
  const aggregator = typeof m.aggregator === 'string' && AGGREGATORS.has(m.aggregator) ? m.aggregator : 'sum';
  const values: Sample[] = [];
  for (const v of m.values as unknown[]) {
    const sample = checkSample(v);
    if (sample !== undefined) values.push(sample);
  }
  return { name: m.name, help: typeof m.help === 'string' ? m.help : m.name, type: m.type as MetricJson['type'], values, aggregator };
}

function checkSample(raw: unknown): Sample | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const v = raw as Record<string, unknown>;
  // JSON turns NaN and ±Infinity into null: such a sample is left out.
  if (typeof v.value !== 'number') return undefined;
  const labels: Labels = {};
  if (v.labels !== undefined) {
    if (typeof v.labels !== 'object' || v.labels === null) return undefined;
    for (const [k, x] of Object.entries(v.labels as Record<string, unknown>)) {
      if (!LABEL.test(k) || (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean')) return undefined;
      labels[k] = String(x);
    }
  }
  if (v.metricName !== undefined) {
    if (typeof v.metricName !== 'string' || !NAME.test(v.metricName)) return undefined;
    return { value: v.value, labels, metricName: v.metricName };
  }
  return { value: v.value, labels };
}
