// handoff's own series, built as the plain objects prom-client's `getMetricsAsJSON()` lists (and
// `AggregatorRegistry.aggregate()` takes), so they and the workers' metrics go through one writer.

/** Label names to values. */
export type Labels = Record<string, string>;

/** One sample: `metricName` is set for a histogram's `_bucket`, `_sum` and `_count`. */
export interface Sample {
  readonly value: number;
  readonly labels: Labels;
  readonly metricName?: string;
}

/** One metric, in prom-client's JSON shape. */
export interface MetricJson {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram' | 'summary';
  readonly values: Sample[];
  readonly aggregator: string;
}

/** A metric of `type` with no sample yet. */
export function metric(name: string, type: MetricJson['type'], help: string): MetricJson {
  return { name, help, type, values: [], aggregator: 'sum' };
}

/** Adds a sample to `m`. */
export function sample(m: MetricJson, value: number, labels: Labels = {}): void {
  m.values.push({ value, labels });
}

/** Upper bounds of the queue-wait histogram, in seconds. */
export const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** A cumulative histogram counted in place: one array, no allocation per observation. */
export class Histogram {
  private readonly counts = new Array<number>(WAIT_BUCKETS.length + 1).fill(0);
  private sum = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < WAIT_BUCKETS.length && seconds > WAIT_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
  }

  /** The histogram as prom-client's JSON: `_bucket` per bound (cumulative, `+Inf` last), `_sum`, `_count`. */
  toJson(name: string, help: string): MetricJson {
    const m = metric(name, 'histogram', help);
    let cumulative = 0;
    for (let i = 0; i <= WAIT_BUCKETS.length; i++) {
      cumulative += this.counts[i]!;
      m.values.push({ value: cumulative, labels: { le: i < WAIT_BUCKETS.length ? String(WAIT_BUCKETS[i]) : '+Inf' }, metricName: `${name}_bucket` });
    }
    m.values.push({ value: this.sum, labels: {}, metricName: `${name}_sum` });
    m.values.push({ value: cumulative, labels: {}, metricName: `${name}_count` });
    return m;
  }
}
