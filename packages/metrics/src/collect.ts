import { PRIMARY_STATES, REJECT_REASONS, WORKER_STATES, type Primary, type WorkerMetrics } from '@handoff/orchestrator';
import { cpuSeconds } from './cpu.js';
import type { UpgradeCounts } from './options.js';
import type { Recorder } from './recorder.js';
import { metric, sample, type MetricJson } from './series.js';

// The states a live worker can be in: an exited one is no longer listed.
const LIVE_STATES = WORKER_STATES.filter((s) => s !== 'exited');
const PROCESS_START_SECONDS = Math.round(Date.now() / 1000 - process.uptime());

/** Every handoff series name this package writes: an app metric of one of these names is left out. */
export const OWN_NAMES: ReadonlySet<string> = new Set([
  'handoff_primary_state',
  'handoff_primary_resident_memory_bytes',
  'handoff_primary_cpu_seconds_total',
  'handoff_primary_start_time_seconds',
  'handoff_workers',
  'handoff_worker_restarts_total',
  'handoff_crash_loops_total',
  'handoff_reloads_total',
  'handoff_upgrades_total',
  'handoff_primary_generation',
  'handoff_connections_dispatched_total',
  'handoff_connections_redispatched_total',
  'handoff_connections_rejected_total',
  'handoff_connections_moved_total',
  'handoff_connections_proxy_refused_total',
  'handoff_queue_length',
  'handoff_queue_wait_seconds',
  'handoff_worker_ready',
  'handoff_worker_open_connections',
  'handoff_worker_requests_total',
  'handoff_worker_resident_memory_bytes',
  'handoff_worker_heap_used_bytes',
  'handoff_worker_cpu_seconds_total',
  'handoff_worker_event_loop_delay_p50_seconds',
  'handoff_worker_event_loop_delay_p99_seconds',
  'handoff_worker_start_time_seconds',
  'handoff_worker_info',
  'handoff_app_metrics_up',
  'handoff_app_metrics_failures_total',
]);

interface Slot {
  ready: number;
  open: number;
  rss: number;
  heap: number;
  delay: number;
  delay50: number;
  started: number;
  requests: number;
  cpu: number;
}

/**
 * handoff's own series at scrape time: counters from the recorder, gauges from the primary's
 * snapshots (`workers()`, `stats()`), CPU from `/proc`. `answers`: the workers' app-metrics answers
 * of this scrape, for `handoff_app_metrics_up` (undefined when app metrics are off); `upgrades`: the
 * primary's line of upgrades, as whoever upgrades it counts them.
 */
export async function ownMetrics(primary: Primary, rec: Recorder, answers: readonly WorkerMetrics[] | undefined, upgrades: UpgradeCounts): Promise<MetricJson[]> {
  const listed = primary.workers();
  rec.prune(new Set(listed.map((w) => w.id)));
  const live = listed.filter((w) => !rec.exited.has(w.id));
  const cpus = await Promise.all(live.map((w) => cpuSeconds(w.pid)));
  const slots = new Map<number, Slot>();
  const info = metric('handoff_worker_info', 'gauge', 'One series per live worker process (value 1): its slot, pid, worker id, generation (processes its slot had before it) and state.');
  for (let i = 0; i < live.length; i++) {
    const w = live[i]!;
    const cpu = Math.max(cpus[i] ?? 0, rec.lastCpu.get(w.id) ?? 0);
    rec.lastCpu.set(w.id, cpu);
    const s = slotOf(slots, w.instance, rec);
    if (w.state === 'ready') s.ready++;
    s.open += w.connections;
    s.rss += w.rss;
    s.heap += w.heapUsed;
    s.delay = Math.max(s.delay, w.eventLoopDelay / 1000);
    s.delay50 = Math.max(s.delay50, w.eventLoopDelayP50 / 1000);
    s.started = Math.max(s.started, w.spawnedAt / 1000);
    s.requests += w.requests;
    s.cpu += cpu;
    sample(info, 1, { slot: String(w.instance), pid: String(w.pid), worker_id: String(w.id), generation: String(rec.generation.get(w.id) ?? 0), state: w.state });
  }
  const out: MetricJson[] = [];
  const state = metric('handoff_primary_state', 'gauge', "The primary's lifecycle state: 1 for the current one.");
  for (const s of PRIMARY_STATES) sample(state, primary.state === s ? 1 : 0, { state: s });
  const workers = metric('handoff_workers', 'gauge', 'Live worker processes by state.');
  for (const s of LIVE_STATES) sample(workers, live.filter((w) => w.state === s).length, { state: s });
  const primaryRss = metric('handoff_primary_resident_memory_bytes', 'gauge', "The primary process's resident set size.");
  sample(primaryRss, process.memoryUsage.rss());
  const usage = process.cpuUsage();
  const primaryCpu = metric('handoff_primary_cpu_seconds_total', 'counter', 'CPU seconds (user + system) used by the primary process.');
  sample(primaryCpu, (usage.user + usage.system) / 1e6);
  const primaryStart = metric('handoff_primary_start_time_seconds', 'gauge', 'When the primary process started, seconds since the epoch.');
  sample(primaryStart, PROCESS_START_SECONDS);
  out.push(state, primaryRss, primaryCpu, primaryStart, workers, info);
  out.push(perSlot(slots, 'handoff_worker_ready', 'gauge', 'Ready worker processes in the slot (0 while it is being replaced).', (s) => s.ready));
  out.push(perSlot(slots, 'handoff_worker_open_connections', 'gauge', "Open connections of the slot's worker(s).", (s) => s.open));
  out.push(perSlot(slots, 'handoff_worker_resident_memory_bytes', 'gauge', "Resident set size of the slot's worker(s), as they last reported.", (s) => s.rss));
  out.push(perSlot(slots, 'handoff_worker_heap_used_bytes', 'gauge', "V8 heap used by the slot's worker(s), as they last reported.", (s) => s.heap));
  out.push(perSlot(slots, 'handoff_worker_event_loop_delay_p50_seconds', 'gauge', "Event-loop delay of the slot's worker, p50 over its last report's second.", (s) => s.delay50));
  out.push(perSlot(slots, 'handoff_worker_event_loop_delay_p99_seconds', 'gauge', "Event-loop delay of the slot's worker, p99 over its last report's second.", (s) => s.delay));
  out.push(perSlot(slots, 'handoff_worker_start_time_seconds', 'gauge', "When the slot's newest worker was forked, seconds since the epoch.", (s) => s.started));
  const requests = metric('handoff_worker_requests_total', 'counter', 'Requests served by the slot, across its processes (crashes, reloads and recycling keep the count).');
  const cpu = metric('handoff_worker_cpu_seconds_total', 'counter', 'CPU seconds (user + system) used by the slot, across its processes (Linux).');
  const counted = new Set<number>(slots.keys());
  rec.retired.forEach((_retired, slot) => counted.add(slot));
  for (const slot of [...counted].sort((a, b) => a - b)) {
    const r = rec.retired[slot] ?? { requests: 0, cpu: 0 };
    const s = slots.get(slot);
    sample(requests, r.requests + (s?.requests ?? 0), { slot: String(slot) });
    if (process.platform === 'linux') sample(cpu, r.cpu + (s?.cpu ?? 0), { slot: String(slot) });
  }
  out.push(requests, cpu);
  const restarts = metric('handoff_worker_restarts_total', 'counter', 'New processes in a slot, by reason: crash, unresponsive, max-requests, max-memory, server-closed, signal, reload.');
  for (const [key, n] of rec.restarts) {
    const [slot, reason] = key.split('\0') as [string, string];
    sample(restarts, n, { slot, reason });
  }
  const loops = metric('handoff_crash_loops_total', 'counter', 'Crash loops: restart.crashLoopCount crashes within restart.crashLoopWindow.');
  sample(loops, rec.crashLoops);
  const reloads = metric('handoff_reloads_total', 'counter', 'Rolling reloads, by outcome.');
  sample(reloads, rec.reloads.success, { outcome: 'success' });
  sample(reloads, rec.reloads.failure, { outcome: 'failure' });
  // Counted across primaries: each new primary starts from the counts its predecessor handed it.
  const upgraded = metric('handoff_upgrades_total', 'counter', 'Upgrades of the primary itself (handoff upgrade, SIGUSR2) by outcome, counted by every primary of its line.');
  sample(upgraded, upgrades.success, { outcome: 'success' });
  sample(upgraded, upgrades.failure, { outcome: 'failure' });
  sample(upgraded, upgrades.refused, { outcome: 'refused' });
  const generation = metric('handoff_primary_generation', 'gauge', 'Which primary of its line this is: 1 for the first, one more at each upgrade.');
  sample(generation, upgrades.generation);
  out.push(restarts, loops, reloads, upgraded, generation);
  const dispatched = metric('handoff_connections_dispatched_total', 'counter', 'Connections the primary handed to a worker (mode primary), by slot and listener.');
  rec.dispatched.forEach((row, slot) => row.forEach((n, listener) => sample(dispatched, n, { slot: String(slot), listener: String(listener) })));
  const redispatched = metric('handoff_connections_redispatched_total', 'counter', 'Connections placed on another worker than first chosen, by reason.');
  for (const [reason, n] of rec.redispatched) sample(redispatched, n, { reason });
  const stats = primary.stats();
  const rejected = metric('handoff_connections_rejected_total', 'counter', 'Connections the primary answered itself (503 Service Unavailable, or a close for protocol tcp), by reason.');
  // Every reason of the orchestrator's one list (a copied list had left out 'descriptors').
  for (const reason of REJECT_REASONS) sample(rejected, stats.rejected[reason] ?? 0, { reason });
  const moved = metric('handoff_connections_moved_total', 'counter', 'Connections draining workers gave back between requests, each placed on another worker instead of closed (moveOnDrain).');
  sample(moved, stats.moved);
  const refused = metric('handoff_connections_proxy_refused_total', 'counter', 'Connections closed for want of a valid PROXY protocol header, by code.');
  for (const [code, n] of Object.entries(stats.proxyRefused)) sample(refused, n, { code });
  const queue = metric('handoff_queue_length', 'gauge', 'Connections waiting in the primary for a ready (or free) worker.');
  sample(queue, stats.queued);
  out.push(dispatched, redispatched, rejected, moved, refused, queue, rec.wait.toJson('handoff_queue_wait_seconds', 'How long connections that had to wait in the primary waited, until a worker took them or they were answered.'));
  if (answers !== undefined) out.push(...appStatus(answers, rec));
  return out;
}

function slotOf(slots: Map<number, Slot>, slot: number, rec: Recorder): Slot {
  let s = slots.get(slot);
  if (s === undefined) {
    s = { ready: 0, open: 0, rss: 0, heap: 0, delay: 0, delay50: 0, started: 0, requests: 0, cpu: 0 };
    slots.set(slot, s);
    rec.retired[slot] ??= { requests: 0, cpu: 0 };
  }
  return s;
}

function perSlot(slots: Map<number, Slot>, name: string, type: 'gauge', help: string, read: (s: Slot) => number): MetricJson {
  const m = metric(name, type, help);
  for (const [slot, s] of [...slots].sort((a, b) => a[0] - b[0])) sample(m, read(s), { slot: String(slot) });
  return m;
}

/** `handoff_app_metrics_up` per slot (0 when one of its workers did not answer) and the failures counted so far. */
function appStatus(answers: readonly WorkerMetrics[], rec: Recorder): MetricJson[] {
  const up = metric('handoff_app_metrics_up', 'gauge', "1 when every worker of the slot answered this scrape's request for the app's metrics (with metrics or none), 0 when one is missing (timeout, error, exited).");
  const bySlot = new Map<number, number>();
  for (const a of answers) {
    const ok = a.status === 'ok' || a.status === 'none';
    if (!ok) rec.appFailure(a.worker.instance, a.status);
    bySlot.set(a.worker.instance, Math.min(bySlot.get(a.worker.instance) ?? 1, ok ? 1 : 0));
  }
  for (const [slot, v] of [...bySlot].sort((a, b) => a[0] - b[0])) sample(up, v, { slot: String(slot) });
  const failures = metric('handoff_app_metrics_failures_total', 'counter', "Scrapes that missed a worker's app metrics, by slot and reason (timeout, error, exited).");
  for (const [key, n] of rec.appFailures) {
    const [slot, reason] = key.split('\0') as [string, string];
    sample(failures, n, { slot, reason });
  }
  return [up, failures];
}
