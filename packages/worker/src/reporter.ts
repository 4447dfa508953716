import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { createMessage, MAX_BATCH, type ChannelEnd, type WorkerMessage } from '@handoff/protocol';
import type { ConnectionTracker } from './tracker.js';

/** How often a worker reports its load when nothing else makes it, in ms. */
export const LOAD_INTERVAL_MS = 1000;

/**
 * Batches what a worker tells the primary about connections: acceptances and closes gathered during
 * one turn of the event loop leave as one `accepted` and one `load` message, not one per event.
 */
export class Reporter {
  private acceptedIds: number[] = [];
  private closedSinceReport = 0;
  private scheduled = false;
  private readonly eld: IntervalHistogram;
  private readonly timer: NodeJS.Timeout;
  private readonly flushBound = (): void => this.flush();

  constructor(
    private readonly channel: ChannelEnd,
    private readonly tracker: ConnectionTracker,
  ) {
    this.eld = monitorEventLoopDelay({ resolution: 20 });
    this.eld.enable();
    this.timer = setInterval(() => this.sendLoad(true), LOAD_INTERVAL_MS);
    this.timer.unref();
    tracker.onClose = () => {
      this.closedSinceReport++;
      this.schedule();
    };
  }

  private changed = false;
  /** Whether the acceptors are closed (balanced shared mode); read when a report is built. */
  isPaused: () => boolean = () => false;

  /**
   * Something the primary steers by changed (balanced shared mode: a connection opened, or the
   * acceptors closed or re-opened): a `load` report leaves this turn.
   */
  loadChanged(): void {
    this.changed = true;
    this.schedule();
  }

  /** Queues the acceptance of connection `id`. */
  accepted(id: number): void {
    this.acceptedIds.push(id);
    if (this.acceptedIds.length >= MAX_BATCH) this.flush();
    else this.schedule();
  }

  /** Sends a message now (outside the batches). */
  send(message: WorkerMessage): void {
    if (this.channel.connected === false || this.channel.send === undefined) return;
    this.channel.send(message, undefined, undefined, ignoreError);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushBound);
  }

  /** Sends what is batched. */
  flush(): void {
    this.scheduled = false;
    if (this.acceptedIds.length > 0) {
      const ids = this.acceptedIds;
      this.acceptedIds = [];
      this.send(createMessage('accepted', { ids }));
    }
    if (this.closedSinceReport > 0 || this.changed) this.sendLoad(false);
  }

  private rss = 0;
  private heapUsed = 0;
  private eventLoopDelay = 0;

  /** Memory and event-loop delay are sampled on the interval only: reading them costs microseconds. */
  private sendLoad(sample: boolean): void {
    const closed = this.closedSinceReport;
    this.closedSinceReport = 0;
    this.changed = false;
    if (sample) {
      const memory = process.memoryUsage();
      this.rss = memory.rss;
      this.heapUsed = memory.heapUsed;
      const p99 = this.eld.percentile(99) / 1e6;
      this.eventLoopDelay = Number.isFinite(p99) ? Math.round(p99 * 100) / 100 : 0;
      this.eld.reset();
    }
    const load = createMessage('load', {
      open: this.tracker.sockets.size,
      closed,
      requests: this.tracker.requests,
      eventLoopDelay: this.eventLoopDelay,
      rss: this.rss,
      heapUsed: this.heapUsed,
    });
    if (this.isPaused()) (load as { paused?: boolean }).paused = true;
    this.send(load);
  }

  /** Stops the timers; what is batched is sent. */
  stop(): void {
    this.flush();
    clearInterval(this.timer);
    this.eld.disable();
  }
}

function ignoreError(): void {
  // A failed report means the primary is gone; the 'disconnect' handler deals with that.
}
