import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { createMessage, WorkerEnv } from '@handoff/protocol';
import type { Outbox } from './outbox.js';
import type { ConnectionTracker } from './tracker.js';

/** How often a worker reports its load when nothing else makes it, in ms. */
export const LOAD_INTERVAL_MS = 1000;

/**
 * How long a change of the connection counts may wait before it is reported, in ms: under churn,
 * one `load` message per turn of the event loop would cost both processes a write and a read per
 * connection or two; a few milliseconds of staleness costs the policies nothing.
 */
export const LOAD_COALESCE_MS = 10;

/** The coalescing this worker was given by its primary (`HANDOFF_LOAD_COALESCE_MS`; 0: every turn). */
function coalesceMs(): number {
  const raw = process.env[WorkerEnv.LOAD_COALESCE_MS];
  const ms = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isFinite(ms) && ms >= 0 ? ms : LOAD_COALESCE_MS;
}

/**
 * Batches what a worker tells the primary about its connections: opens and closes within
 * {@link LOAD_COALESCE_MS} leave as one `load` message; a pause or re-arm of the acceptors (balanced
 * shared mode) leaves at the end of the current turn of the event loop.
 */
export class Reporter {
  private closedSinceReport = 0;
  private scheduled = false;
  private coalesceTimer: NodeJS.Timeout | undefined;
  private readonly eld: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private readonly flushBound = (): void => this.flush();

  /**
   * @param isPaused balanced shared mode: whether the worker's acceptors are paused at its limit,
   *   reported with each load.
   */
  constructor(
    private readonly outbox: Outbox,
    private readonly tracker: ConnectionTracker,
    private readonly isPaused: () => boolean = () => false,
  ) {
    this.eld = monitorEventLoopDelay({ resolution: 20 });
    this.eld.enable();
    this.timer = setInterval(() => this.sendLoad(true), LOAD_INTERVAL_MS);
    this.timer.unref();
    tracker.onClosed(() => {
      this.closedSinceReport++;
      this.coalesce();
    });
  }

  private changed = false;
  /** Kernel modes: PROXY header refusals since the last report, by code. */
  private refusedSinceReport: Record<string, number> | undefined;

  /** Kernel modes: a connection was closed for want of a valid PROXY header; reported within {@link LOAD_COALESCE_MS}. */
  proxyRefused(code: string): void {
    this.refusedSinceReport ??= {};
    this.refusedSinceReport[code] = (this.refusedSinceReport[code] ?? 0) + 1;
    this.changed = true;
    this.coalesce();
  }

  /** Whether the acceptors are closed (balanced shared mode); read when a report is built. */

  /**
   * Something the primary steers by changed (balanced shared mode): a connection opened, reported
   * within {@link LOAD_COALESCE_MS}; or, `urgent`, the acceptors closed or re-opened, reported this
   * turn.
   */
  loadChanged(urgent = false): void {
    this.changed = true;
    if (urgent) this.schedule();
    else this.coalesce();
  }

  private readonly coalesceMs = coalesceMs();

  private coalesce(): void {
    if (this.coalesceMs === 0) {
      this.schedule();
      return;
    }
    if (this.scheduled || this.coalesceTimer !== undefined) return;
    this.coalesceTimer = setTimeout(this.flushBound, this.coalesceMs);
    this.coalesceTimer.unref();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushBound);
  }

  /** Sends what is batched. */
  flush(): void {
    this.scheduled = false;
    if (this.coalesceTimer !== undefined) {
      clearTimeout(this.coalesceTimer);
      this.coalesceTimer = undefined;
    }
    if (this.closedSinceReport > 0 || this.changed) this.sendLoad(false);
  }

  private rss = 0;
  private heapUsed = 0;
  private eventLoopDelay = 0;
  private eventLoopDelayP50 = 0;

  /** Memory and event-loop delay are sampled on the interval only: reading them costs microseconds. */
  private sendLoad(sample: boolean): void {
    const closed = this.closedSinceReport;
    this.closedSinceReport = 0;
    this.changed = false;
    if (sample) {
      // Reading the RSS opens /proc/self/statm: out of descriptors (EMFILE) it throws, and the
      // worker must not die of it (with every connection it holds). The last values stand.
      try {
        const memory = process.memoryUsage();
        this.rss = memory.rss;
        this.heapUsed = memory.heapUsed;
      } catch {
        // Sampled again on the next interval.
      }
      const p99 = this.eld.percentile(99) / 1e6;
      this.eventLoopDelay = Number.isFinite(p99) ? Math.round(p99 * 100) / 100 : 0;
      const p50 = this.eld.percentile(50) / 1e6;
      this.eventLoopDelayP50 = Number.isFinite(p50) ? Math.round(p50 * 100) / 100 : 0;
      this.eld.reset();
    }
    const load = createMessage('load', {
      open: this.tracker.sockets.size,
      closed,
      requests: this.tracker.requests,
      eventLoopDelay: this.eventLoopDelay,
      eventLoopDelayP50: this.eventLoopDelayP50,
      rss: this.rss,
      heapUsed: this.heapUsed,
    });
    if (this.isPaused()) (load as { paused?: boolean }).paused = true;
    if (this.refusedSinceReport !== undefined) {
      (load as { proxyRefused?: Record<string, number> }).proxyRefused = this.refusedSinceReport;
      this.refusedSinceReport = undefined;
    }
    this.outbox.send(load);
  }

  /** Stops the timers; what is batched is sent. */
  stop(): void {
    this.flush();
    clearInterval(this.timer);
    this.eld.disable();
  }
}
