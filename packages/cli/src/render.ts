import { describeAddress } from './events-log.js';
import type { AddonStatus, PrimaryStatus, WorkerStatus } from './control/handlers.js';

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${Math.floor((s % 86_400) / 3600)}h`;
}

function megabytes(bytes: number): string {
  return bytes === 0 ? '-' : `${(bytes / 1024 / 1024).toFixed(1)}M`;
}

/** A plain table: columns padded to their widest cell. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

/**
 * `, transport native (prebuilt linux-x64-gnu)` (or `native (…) 1, ipc 1` when a worker fell back;
 * `ipc (addon not loaded: why)` where `auto` fell back), or nothing where no connection crosses.
 */
function transports(workers: readonly WorkerStatus[], addon: AddonStatus | null | undefined): string {
  const counts = new Map<string, number>();
  for (const w of workers) if (w.transport !== null) counts.set(w.transport, (counts.get(w.transport) ?? 0) + 1);
  if (counts.size === 0) return '';
  // The addon's note goes with the transport it is about: a worker that fell back alone is the other.
  const named = (t: string): string => (addon === null || addon === undefined || addon.description === '' || addon.transport !== t ? t : `${t} (${addon.description})`);
  if (counts.size === 1) return `, transport ${named([...counts.keys()][0]!)}`;
  return `, transport ${[...counts].map(([t, n]) => `${named(t)} ${n}`).join(', ')}`;
}

/** `2 workers (auto: cgroup cpu quota 1.0 of 2 CPUs)`: the target, and how `auto` counted it. */
function workersLine(s: PrimaryStatus): string {
  const n = `${s.target} worker${s.target === 1 ? '' : 's'}`;
  // After a scale the target is no longer auto's count: say both.
  if (s.auto === null) return n;
  return s.auto.workers === s.target ? `${n} (auto: ${s.auto.description})` : `${n} (scaled; auto counted ${s.auto.workers}: ${s.auto.description})`;
}

/** `handoff status` for people. */
export function renderStatus(s: PrimaryStatus): string {
  const head = [
    `${s.name}: ${s.state}, pid ${s.pid}, generation ${s.generation}, Node ${s.node}, up ${duration(s.uptimeMs)}, ${s.entry}`,
    `${workersLine(s)}; policy ${s.policy.name} (mode ${s.policy.mode})${transports(s.workers, s.addon)}; listening on ${s.listeners.map(describeAddress).join(', ') || 'nothing yet'}`,
    `queued ${s.queued}; answered by the primary (503 or closed): ${s.rejectedTotal}${s.rejectedTotal > 0 ? ` (${Object.entries(s.rejected).filter(([, n]) => n > 0).map(([r, n]) => `${n} ${r}`).join(', ')})` : ''}; moved by drains: ${s.moved}`,
  ];
  const rows = s.workers.map((w) => [
    String(w.instance),
    String(w.id),
    String(w.pid),
    w.state,
    duration(w.uptimeMs),
    String(w.restarts),
    String(w.connections),
    String(w.requests),
    megabytes(w.rss),
    w.cpu === null ? '-' : `${w.cpu.toFixed(1)}%`,
    `${w.eventLoopDelay.toFixed(1)}ms`,
  ]);
  return `${head.join('\n')}\n\n${table(['instance', 'id', 'pid', 'state', 'uptime', 'restarts', 'conns', 'requests', 'rss', 'cpu', 'loop delay'], rows)}\n`;
}

/** `handoff ls` for people. */
export function renderList(list: readonly PrimaryStatus[]): string {
  if (list.length === 0) return 'no handoff primary is running\n';
  const rows = list.map((s) => [s.name, String(s.pid), s.state, String(s.workers.filter((w) => w.state === 'ready').length), duration(s.uptimeMs), s.listeners.map(describeAddress).join(', '), s.entry]);
  return `${table(['name', 'pid', 'state', 'workers', 'uptime', 'listening', 'entry'], rows)}\n`;
}
