import type { CellResult } from './cell.js';
import { median } from './stats.js';

/** The medians (and rps range) of one server under one workload and pinning, over its rounds. */
export interface Summary {
  readonly server: string;
  readonly workload: string;
  readonly pinned: boolean;
  readonly anchor: boolean;
  readonly rounds: number;
  readonly rps: number;
  readonly rpsMin: number;
  readonly rpsMax: number;
  /** ms */
  readonly p50: number;
  /** ms */
  readonly p99: number;
  readonly errors: number;
  readonly requests: number;
  /** µs of CPU per request, of the primary (0 for a server without one) */
  readonly primaryCpuPerRequest: number;
  /** µs of CPU per request, every worker together */
  readonly workersCpuPerRequest: number;
  /** primary + workers */
  readonly cpuPerRequest: number;
  /** Busiest worker's share of keep-alive connections (NaN when not measured). */
  readonly busiestConnections: number;
  readonly busiestRequests: number;
  readonly cv: number;
  readonly primaryRss: number;
  readonly workerRss: number;
  /** The best anchor of this workload and pinning: the one with the most req/s. */
  readonly bestAnchor: string;
  /** Each figure divided by `node:cluster` round-robin's (NaN when it did not run). */
  readonly vsClusterRr: Ratios;
  /** Each figure divided by the best anchor's. */
  readonly vsBestAnchor: Ratios;
  /** Server CPU per request as a multiple of the single process's. */
  readonly cpuVsSingle: number;
  /** The crash workload, over its rounds. */
  readonly crash?: CrashSummary;
  /** The reload workload, over its rounds. */
  readonly reload?: ReloadSummary;
}

/** The reload workload's figures of one server, summed over rounds. */
export interface ReloadSummary {
  readonly asked: number;
  readonly done: number;
  /** Mean milliseconds a finished reload took (NaN when none finished). */
  readonly meanMs: number;
  readonly failed: number;
  readonly reconnects: number;
  /** undefined: not a handoff primary (nothing moves). */
  readonly moved: number | undefined;
  /** Failed requests per reload asked for, and keep-alive reconnects per reload. */
  readonly failedPerReload: number;
  readonly reconnectsPerReload: number;
  /** Failed requests by why, `keep-alive: why` and `churn: why`, summed. */
  readonly failedBy: Readonly<Record<string, number>>;
}

/** The crash workload's figures of one server, summed over rounds. */
export interface CrashSummary {
  readonly failed: number;
  readonly hung: number;
  /** Connections the stopped worker held, summed over rounds. */
  readonly held: number;
  readonly returned: number;
  /** Rounds where the primary's heartbeat (not the bench) had killed the stopped worker. */
  readonly goneFirst: number;
  /** Every round: failed <= held, and none hung (issue 18's target). */
  readonly met: boolean;
}

/** Ratios of one summary's figures to another's. */
export interface Ratios {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly cpuPerRequest: number;
  readonly primaryRss: number;
  readonly workerRss: number;
}

type Partial = Omit<Summary, 'vsClusterRr' | 'vsBestAnchor' | 'cpuVsSingle' | 'bestAnchor'>;

function crashSummary(g: readonly CellResult[]): CrashSummary | undefined {
  const crashes = g.flatMap((c) => (c.crash === undefined ? [] : [c.crash]));
  if (crashes.length === 0) return undefined;
  const sum = (f: (c: (typeof crashes)[number]) => number): number => crashes.reduce((a, c) => a + f(c), 0);
  return {
    failed: sum((c) => c.failed),
    hung: sum((c) => c.hung),
    held: sum((c) => c.held),
    returned: sum((c) => c.returned),
    goneFirst: crashes.filter((c) => c.killedBy === 'gone').length,
    met: crashes.every((c) => c.failed <= c.held && c.hung === 0),
  };
}

function reloadSummary(g: readonly CellResult[]): ReloadSummary | undefined {
  const reloads = g.flatMap((c) => (c.reload === undefined ? [] : [c.reload]));
  if (reloads.length === 0) return undefined;
  const sum = (f: (r: (typeof reloads)[number]) => number): number => reloads.reduce((a, r) => a + f(r), 0);
  const failedBy: Record<string, number> = {};
  for (const r of reloads) {
    for (const [who, by] of [['keep-alive', r.keepAliveFailed], ['churn', r.churnFailed]] as const) {
      for (const [why, n] of Object.entries(by)) failedBy[`${who}: ${why}`] = (failedBy[`${who}: ${why}`] ?? 0) + n;
    }
  }
  const asked = sum((r) => r.asked);
  const failed = sum((r) => r.failed);
  const reconnects = sum((r) => r.reconnects);
  const per = (n: number): number => (asked === 0 ? Number.NaN : n / asked);
  return {
    asked,
    done: sum((r) => r.done),
    meanMs: sum((r) => r.done) === 0 ? Number.NaN : sum((r) => r.ms) / sum((r) => r.done),
    failed,
    reconnects,
    moved: reloads.some((r) => r.moved === undefined) ? undefined : sum((r) => r.moved ?? 0),
    failedPerReload: per(failed),
    reconnectsPerReload: per(reconnects),
    failedBy,
  };
}

function ratios(s: Partial, to: Partial | undefined): Ratios {
  const r = (a: number, b: number | undefined): number => (b === undefined || b === 0 ? Number.NaN : a / b);
  return {
    rps: r(s.rps, to?.rps),
    p50: r(s.p50, to?.p50),
    p99: r(s.p99, to?.p99),
    cpuPerRequest: r(s.cpuPerRequest, to?.cpuPerRequest),
    primaryRss: r(s.primaryRss, to?.primaryRss),
    workerRss: r(s.workerRss, to?.workerRss),
  };
}

/** Folds the rounds of each (workload, pinning, server) into medians, with ratios to the anchors. */
export function summarize(cells: readonly CellResult[], anchors: ReadonlySet<string>): Summary[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) {
    const key = `${c.workload}\u0000${c.pinned}\u0000${c.server}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const partial = [...groups.values()].map((g): Partial => {
    const m = (f: (c: CellResult) => number): number => median(g.map(f));
    const rps = g.map((c) => c.rps);
    return {
      server: g[0]!.server,
      workload: g[0]!.workload,
      pinned: g[0]!.pinned,
      anchor: anchors.has(g[0]!.server),
      rounds: g.length,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50: m((c) => c.p50),
      p99: m((c) => c.p99),
      errors: g.reduce((a, c) => a + c.errors, 0),
      requests: g.reduce((a, c) => a + c.requests, 0),
      primaryCpuPerRequest: m((c) => c.primaryCpuPerRequest),
      workersCpuPerRequest: m((c) => c.workersCpuPerRequest),
      cpuPerRequest: m((c) => c.primaryCpuPerRequest + c.workersCpuPerRequest),
      busiestConnections: g[0]!.connectionShares.length === 0 ? Number.NaN : m((c) => c.connectionShares[0] ?? 0),
      busiestRequests: m((c) => c.requestShares[0] ?? 0),
      cv: m((c) => c.cv),
      primaryRss: m((c) => c.primaryRss),
      workerRss: m((c) => c.workerRss),
      ...(g[0]!.crash === undefined ? {} : { crash: crashSummary(g) }),
      ...(g[0]!.reload === undefined ? {} : { reload: reloadSummary(g) }),
    };
  });
  return partial.map((s) => {
    const same = partial.filter((o) => o.workload === s.workload && o.pinned === s.pinned);
    const clusterRr = same.find((o) => o.server === 'cluster-rr');
    const best = same.filter((o) => o.anchor).sort((a, b) => b.rps - a.rps)[0];
    const single = same.find((o) => o.server === 'single');
    return {
      ...s,
      bestAnchor: best?.server ?? '',
      vsClusterRr: ratios(s, clusterRr),
      vsBestAnchor: ratios(s, best),
      cpuVsSingle: single === undefined || single.cpuPerRequest === 0 ? Number.NaN : s.cpuPerRequest / single.cpuPerRequest,
    };
  });
}

const f0 = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '–');
const pct = (x: number): string => (Number.isFinite(x) ? `${Math.round(x * 100)}%` : '–');
const mb = (x: number): string => (x > 0 ? (x / 1048576).toFixed(0) : '–');
/** `value ×rr ×best`, compact: ratios to cluster-rr and to the best anchor. */
const withRatios = (value: string, a: number, b: number): string => `${value} <sub>${f2(a)} · ${f2(b)}</sub>`;

/** A section of the report: one workload, pinned or not. */
export interface Section {
  readonly name: string;
  readonly description: string;
  readonly pinned: boolean;
}

/** The crash workload's table: what failed and hung against what the stopped worker held. */
function crashTable(rows: readonly Summary[], out: string[]): void {
  out.push('Failed, hung, held and given back are summed over rounds; **met**: in every round failed ≤ held and none hung.', '');
  out.push('| server | req/s | p99 ms | failed | hung | held by the stopped worker | given back by the primary | met |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | :---: |');
  for (const s of rows) {
    const c = s.crash;
    if (c === undefined) continue;
    const gone = c.goneFirst > 0 ? ` (heartbeat first in ${c.goneFirst})` : '';
    out.push(`| ${s.anchor ? s.server : `**${s.server}**`} | ${f0(s.rps)} | ${f1(s.p99)} | ${c.failed} | ${c.hung} | ${c.held}${gone} | ${s.server.startsWith('handoff:') ? c.returned : '–'} | ${c.met ? 'yes' : 'no'} |`);
  }
  out.push('');
}

/** The reload workload's table: what the clients saw per rolling reload. */
function reloadTable(rows: readonly Summary[], out: string[]): void {
  out.push('Counted by the load generator, summed over rounds; **per reload**: divided by the reloads asked for; **done**: finished inside the window, **s per reload**: their mean length. Small figures: × cluster-rr.', '');
  out.push('| server | req/s | p99 ms | reloads asked / done | s per reload | failed per reload | keep-alive reconnects per reload | moved per reload | failed, by why |');
  out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  const clusterRr = rows.find((s) => s.server === 'cluster-rr');
  for (const s of rows) {
    const r = s.reload;
    if (r === undefined) continue;
    const why = Object.entries(r.failedBy)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const rr = clusterRr?.reload;
    const vs = (a: number, b: number | undefined): string => (b === undefined || b === 0 ? '' : ` <sub>${f2(a / b)}</sub>`);
    out.push(
      `| ${s.anchor ? s.server : `**${s.server}**`} | ${f0(s.rps)}${vs(s.rps, clusterRr?.rps)} | ${f1(s.p99)} | ${r.asked} / ${r.done} | ${f1(r.meanMs / 1000)} | ${f2(r.failedPerReload)}${vs(r.failedPerReload, rr?.failedPerReload)} | ${f2(r.reconnectsPerReload)}${vs(r.reconnectsPerReload, rr?.reconnectsPerReload)} | ${r.moved === undefined ? '–' : f1(r.moved / Math.max(1, r.asked))} | ${why === '' ? '–' : why} |`,
    );
  }
  out.push('');
}

/** One Markdown table per workload and pinning. */
export function markdown(summaries: readonly Summary[], sections: readonly Section[]): string {
  const out: string[] = [];
  for (const w of sections) {
    const rows = summaries.filter((s) => s.workload === w.name && s.pinned === w.pinned);
    if (rows.length === 0) continue;
    if (rows.some((s) => s.crash !== undefined)) {
      out.push(`### ${w.name}, ${w.pinned ? 'pinned (load on CPU 0, server on CPU 1)' : 'unpinned'}: ${w.description}`, '');
      crashTable(rows, out);
      continue;
    }
    if (rows.some((s) => s.reload !== undefined)) {
      out.push(`### ${w.name}, ${w.pinned ? 'pinned (load on CPU 0, server on CPU 1)' : 'unpinned'}: ${w.description}`, '');
      reloadTable(rows, out);
      continue;
    }
    out.push(`### ${w.name}, ${w.pinned ? 'pinned (load on CPU 0, server on CPU 1)' : 'unpinned'}: ${w.description}`, '');
    out.push(`Small figures: × cluster-rr · × best anchor (${rows[0]!.bestAnchor}).`, '');
    out.push('| server | req/s | min–max | p50 ms | p99 ms | errors | CPU µs/req | primary + workers | × single CPU | busiest: conns / reqs | CV | RSS MB primary | RSS MB worker |');
    out.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const s of rows) {
      const a = s.vsClusterRr;
      const b = s.vsBestAnchor;
      out.push(
        `| ${s.anchor ? s.server : `**${s.server}**`} | ${withRatios(f0(s.rps), a.rps, b.rps)} | ${f0(s.rpsMin)}–${f0(s.rpsMax)} | ${withRatios(f1(s.p50), a.p50, b.p50)} | ${withRatios(f1(s.p99), a.p99, b.p99)} | ${s.errors} | ${withRatios(f0(s.cpuPerRequest), a.cpuPerRequest, b.cpuPerRequest)} | ${f0(s.primaryCpuPerRequest)} + ${f0(s.workersCpuPerRequest)} | ${f2(s.cpuVsSingle)} | ${pct(s.busiestConnections)} / ${pct(s.busiestRequests)} | ${f2(s.cv)} | ${withRatios(mb(s.primaryRss), a.primaryRss, b.primaryRss)} | ${withRatios(mb(s.workerRss), a.workerRss, b.workerRss)} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
