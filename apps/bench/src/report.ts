import type { CellResult } from './cell.js';
import { median } from './stats.js';

/** The medians (and rps range) of one server under one workload, over its rounds. */
export interface Summary {
  readonly server: string;
  readonly workload: string;
  readonly anchor: boolean;
  readonly rounds: number;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  readonly primaryCpuPerRequest: number;
  readonly workersCpuPerRequest: number;
  /** Busiest worker's share of keep-alive connections (NaN when not measured). */
  readonly busiestConnections: number;
  readonly busiestRequests: number;
  readonly cv: number;
  readonly primaryRss: number;
  readonly workerRss: number;
  readonly vsClusterRr: number;
  readonly vsBestAnchor: number;
  /** Server CPU per request as a multiple of the single process's. */
  readonly cpuVsSingle: number;
}

/** Folds the rounds of each (workload, server) into medians, with ratios to the anchors. */
export function summarize(cells: readonly CellResult[], anchors: ReadonlySet<string>): Summary[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) {
    const key = `${c.workload}\u0000${c.server}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const partial = [...groups.values()].map((g) => {
    const m = (f: (c: CellResult) => number): number => median(g.map(f));
    const rps = g.map((c) => c.rps);
    return {
      server: g[0]!.server,
      workload: g[0]!.workload,
      anchor: anchors.has(g[0]!.server),
      rounds: g.length,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50: m((c) => c.p50),
      p99: m((c) => c.p99),
      errors: g.reduce((a, c) => a + c.errors, 0),
      primaryCpuPerRequest: m((c) => c.primaryCpuPerRequest),
      workersCpuPerRequest: m((c) => c.workersCpuPerRequest),
      busiestConnections: g[0]!.connectionShares.length === 0 ? Number.NaN : m((c) => c.connectionShares[0] ?? 0),
      busiestRequests: m((c) => c.requestShares[0] ?? 0),
      cv: m((c) => c.cv),
      primaryRss: m((c) => c.primaryRss),
      workerRss: m((c) => c.workerRss),
    };
  });
  return partial.map((s) => {
    const same = partial.filter((o) => o.workload === s.workload);
    const clusterRr = same.find((o) => o.server === 'cluster-rr')?.rps ?? Number.NaN;
    const best = Math.max(...same.filter((o) => o.anchor).map((o) => o.rps));
    const single = same.find((o) => o.server === 'single');
    const singleCpu = single === undefined ? Number.NaN : single.workersCpuPerRequest;
    return { ...s, vsClusterRr: s.rps / clusterRr, vsBestAnchor: s.rps / best, cpuVsSingle: (s.primaryCpuPerRequest + s.workersCpuPerRequest) / singleCpu };
  });
}

const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '–');
const mb = (x: number): string => (x > 0 ? (x / 1048576).toFixed(0) : '–');

/** One Markdown table per workload. */
export function markdown(summaries: readonly Summary[], workloads: readonly { name: string; description: string }[]): string {
  const out: string[] = [];
  for (const w of workloads) {
    const rows = summaries.filter((s) => s.workload === w.name);
    if (rows.length === 0) continue;
    out.push(`### ${w.name}: ${w.description}`, '');
    out.push('| server | req/s | min–max | × cluster-rr | × best anchor | p50 ms | p99 ms | errors | CPU µs/req primary + workers | × single CPU | busiest: conns / reqs | CV | RSS MB primary / worker |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of rows) {
      out.push(
        `| ${s.anchor ? s.server : `**${s.server}**`} | ${f0(s.rps)} | ${f0(s.rpsMin)}–${f0(s.rpsMax)} | ${f2(s.vsClusterRr)} | ${f2(s.vsBestAnchor)} | ${f1(s.p50)} | ${f1(s.p99)} | ${s.errors} | ${f0(s.primaryCpuPerRequest)} + ${f0(s.workersCpuPerRequest)} | ${f2(s.cpuVsSingle)} | ${pct(s.busiestConnections)} / ${pct(s.busiestRequests)} | ${f2(s.cv)} | ${mb(s.primaryRss)} / ${mb(s.workerRss)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
