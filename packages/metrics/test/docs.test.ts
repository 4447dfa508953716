import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWithMetrics, type Family } from './helpers.js';

const docs = new URL('../../../docs/observability/', import.meta.url);
const dashboard = JSON.parse(readFileSync(new URL('grafana-dashboard.json', docs), 'utf8')) as unknown;
const rules = parseYaml(readFileSync(new URL('alerts.yml', docs), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };

/** Every `expr` in the dashboard (panels' targets, annotations), wherever it sits. */
function expressions(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const x of node) expressions(x, out);
  else if (typeof node === 'object' && node !== null) {
    for (const [k, v] of Object.entries(node)) {
      if ((k === 'expr' || (k === 'query' && typeof v === 'string' && v.startsWith('label_values('))) && typeof v === 'string') out.push(v);
      else expressions(v, out);
    }
  }
  return out;
}

/** Grafana's variables, as Prometheus would see them once Grafana filled them in. */
function asPromQL(expr: string): string {
  const m = /^label_values\((?:(.+), )?\w+\)$/.exec(expr);
  if (m !== null) return m[1] ?? 'up';
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replaceAll('$__range', '1h').replace(/\$\w+/g, '.*');
}

/** The metric names an expression selects, read by Prometheus' own PromQL grammar (its syntax errors fail). */
function metricNames(expr: string): string[] {
  const text = asPromQL(expr);
  const names: string[] = [];
  const errors: number[] = [];
  parser.parse(text).iterate({
    enter(n) {
      if (n.type.isError) errors.push(n.from);
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id !== null) names.push(text.slice(id.from, id.to));
      }
    },
  });
  expect(errors, `PromQL syntax of ${text}`).toEqual([]);
  return names;
}

/** Whether `name` (a histogram's `_bucket`, `_sum`, `_count` included) is a family of the scrape. */
function exists(families: Map<string, Family>, name: string): boolean {
  if (families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return families.get(base)?.type === 'HISTOGRAM';
}

describe('docs/observability: the Grafana dashboard and the alert rules', () => {
  let families: Map<string, Family>;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    const s = await startWithMetrics();
    dispose = () => s[Symbol.asyncDispose]();
    families = await s.scrape();
  });
  afterAll(() => dispose());

  it('query only metrics that a live /metrics has', () => {
    const exprs = [...expressions(dashboard), ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr))];
    expect(exprs.length).toBeGreaterThan(20);
    const queried = new Set(exprs.flatMap(metricNames));
    expect(queried.size).toBeGreaterThan(15);
    expect([...queried].filter((name) => !exists(families, name))).toEqual([]);
  });

  it('alert on crash loops, sustained 503s, the queue wait p99 and a stuck worker', () => {
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts).toEqual(expect.arrayContaining(['HandoffCrashLoop', 'HandoffSustained503s', 'HandoffQueueWaitP99High', 'HandoffWorkerStuck']));
  });
});
