import { diagnosticsChannels, type Primary, type PrimaryEvents, type WorkerInfo } from '@handoff/orchestrator';
import { Histogram } from './series.js';

/** Why a worker's slot got a new process. */
export type RestartReason = 'crash' | 'unresponsive' | 'max-requests' | 'max-memory' | 'server-closed' | 'signal' | 'reload';

/** What a slot's dead processes did, kept so that its counters never go down when one is replaced. */
interface Retired {
  requests: number;
  cpu: number;
}

type Listener<E extends keyof PrimaryEvents> = (...args: PrimaryEvents[E]) => void;

/**
 * Counts what happens, where it already happens: the primary's events and its diagnostics channels.
 * Per connection only the `dispatch` channel costs anything (a lookup and an increment into arrays
 * that exist already); everything else is per lifecycle event. Snapshots (`workers()`, `stats()`) are
 * read at scrape time by `collect.ts`.
 */
export class Recorder {
  /** Worker id → slot, for the dispatch channel, which names workers by id. */
  readonly slotOf = new Map<number, number>();
  /** Worker id → how many processes its slot had before it (0 for the first seen). */
  readonly generation = new Map<number, number>();
  /** Connections dispatched, `[slot][listener]`. */
  readonly dispatched: number[][] = [];
  /** `slot \0 reason` → restarts. */
  readonly restarts = new Map<string, number>();
  /** Re-dispatch reason → count. */
  readonly redispatched = new Map<string, number>();
  /** `slot \0 reason` → app-metrics answers missing. */
  readonly appFailures = new Map<string, number>();
  readonly reloads = { success: 0, failure: 0 };
  crashLoops = 0;
  /** How long connections waited in the primary's queue. */
  readonly wait = new Histogram();
  /** Ids of workers that exited (until the snapshot no longer lists them). */
  readonly exited = new Set<number>();
  /** Per slot: what its exited processes had done. */
  readonly retired: Retired[] = [];
  /** Worker id → CPU seconds as last read at a scrape. */
  readonly lastCpu = new Map<number, number>();
  private readonly spawns: number[] = [];
  private readonly unresponsive = new Set<number>();
  private readonly recycling = new Set<number>();
  private readonly off: Array<() => void> = [];

  constructor(private readonly primary: Primary) {
    for (const w of primary.workers()) this.adopt(w);
    this.on('worker:spawn', (w) => this.onSpawn(w));
    this.on('worker:exit', (w, exit) => this.onExit(w, exit.expected));
    this.on('worker:unresponsive', (w) => {
      this.unresponsive.add(w.id);
      this.restart(w.instance, 'unresponsive');
    });
    this.on('worker:recycle', (w, { reason }) => {
      this.recycling.add(w.id);
      this.restart(w.instance, reason);
    });
    this.on('worker:crash-loop', () => {
      this.crashLoops++;
    });
    this.on('reload:end', (result) => {
      if (result.error === undefined) this.reloads.success++;
      else this.reloads.failure++;
    });
    this.channel(diagnosticsChannels.dispatch, (m) => {
      const { worker, listener } = m as { worker: number; listener: number };
      const slot = this.slotOf.get(worker);
      if (slot === undefined) return;
      const row = (this.dispatched[slot] ??= []);
      row[listener] = (row[listener] ?? 0) + 1;
    });
    this.channel(diagnosticsChannels.redispatch, (m) => {
      const reason = String((m as { reason?: unknown }).reason ?? 'unknown');
      this.redispatched.set(reason, (this.redispatched.get(reason) ?? 0) + 1);
    });
    this.channel(diagnosticsChannels.queueWait, (m) => this.wait.observe(Math.max(0, (m as { waitMs: number }).waitMs) / 1000));
  }

  /** Counts an app-metrics answer that did not come for `slot`. */
  appFailure(slot: number, reason: string): void {
    const key = `${slot}\0${reason}`;
    this.appFailures.set(key, (this.appFailures.get(key) ?? 0) + 1);
  }

  /** Forgets exited workers that the snapshot no longer lists. */
  prune(listed: ReadonlySet<number>): void {
    for (const id of this.exited) {
      if (listed.has(id)) continue;
      this.exited.delete(id);
      this.slotOf.delete(id);
      this.generation.delete(id);
      this.unresponsive.delete(id);
      this.recycling.delete(id);
    }
  }

  /** Stops counting: every listener and subscription goes. */
  close(): void {
    for (const off of this.off.splice(0)) off();
  }

  private adopt(w: WorkerInfo): void {
    if (this.slotOf.has(w.id)) return;
    this.slotOf.set(w.id, w.instance);
    const before = this.spawns[w.instance] ?? 0;
    this.spawns[w.instance] = before + 1;
    this.generation.set(w.id, before);
  }

  private onSpawn(w: WorkerInfo): void {
    this.adopt(w);
    if (this.primary.state !== 'reloading') return;
    // A rolling reload forks the new worker while the old one of its slot still serves; a slot
    // whose old worker is being recycled (or was unresponsive) was counted under that reason.
    const replaced = this.primary.workers().some((o) => o.instance === w.instance && o.id !== w.id && !this.exited.has(o.id) && !this.recycling.has(o.id) && !this.unresponsive.has(o.id));
    if (replaced) this.restart(w.instance, 'reload');
  }

  private onExit(w: WorkerInfo, expected: boolean): void {
    this.adopt(w);
    this.exited.add(w.id);
    const retired = (this.retired[w.instance] ??= { requests: 0, cpu: 0 });
    retired.requests += w.requests;
    retired.cpu += this.lastCpu.get(w.id) ?? 0;
    this.lastCpu.delete(w.id);
    if (!expected && !this.unresponsive.has(w.id)) this.restart(w.instance, 'crash');
  }

  private restart(slot: number, reason: RestartReason): void {
    const key = `${slot}\0${reason}`;
    this.restarts.set(key, (this.restarts.get(key) ?? 0) + 1);
  }

  private on<E extends keyof PrimaryEvents>(event: E, listener: Listener<E>): void {
    const primary = this.primary as unknown as { on(e: string, l: Listener<E>): void; off(e: string, l: Listener<E>): void };
    primary.on(event, listener);
    this.off.push(() => primary.off(event, listener));
  }

  private channel(ch: { subscribe(fn: (message: unknown) => void): void; unsubscribe(fn: (message: unknown) => void): unknown }, fn: (message: unknown) => void): void {
    ch.subscribe(fn);
    this.off.push(() => void ch.unsubscribe(fn));
  }
}
