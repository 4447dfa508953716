import type { ResolvedOptions } from './options.js';
import type { WorkerProcess } from './worker-process.js';

/** Why a worker is replaced gracefully: a limit it reached, its app closed its server(s), or it was signalled alone and drains. */
export type RecycleReason = 'max-requests' | 'max-memory' | 'server-closed' | 'signal';

/** What the health monitor asks of the supervisor. */
export interface HealthHost {
  /** The worker has not answered a ping for `stuckMs`: kill it. */
  unresponsive(worker: WorkerProcess, stuckMs: number): void;
  /** The worker reached a recycling limit: replace it gracefully. */
  recycle(worker: WorkerProcess, reason: RecycleReason): void;
}

/**
 * Watches one worker: a heartbeat (`ping`, answered by `pong` from the worker's event loop, so a
 * stuck loop stops answering) and the recycling limits checked on each `load` report.
 */
export class HealthMonitor {
  /** A ping is on its way and unanswered: one at a time. */
  private outstanding = false;
  private stopped = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly requestLimit: number;
  private recycled = false;

  constructor(
    private readonly worker: WorkerProcess,
    private readonly options: ResolvedOptions,
    private readonly host: HealthHost,
    random: () => number = Math.random,
  ) {
    this.requestLimit = options.maxRequests > 0 ? options.maxRequests + Math.floor(random() * (options.maxRequestsJitter + 1)) : 0;
    worker.on('load', () => this.checkLimits());
    if (options.heartbeatTimeout > 0) {
      this.timer = setInterval(() => this.beat(), Math.min(options.heartbeatInterval, options.heartbeatTimeout));
      this.timer.unref();
    }
    worker.once('exit', () => this.stop());
  }

  private beat(): void {
    const { worker } = this;
    // A starting worker has its own deadline (readyTimeout).
    if (this.outstanding || (worker.state !== 'ready' && worker.state !== 'draining')) return;
    this.outstanding = true;
    const sentAt = Date.now();
    void worker.request('ping', this.options.heartbeatTimeout).then((result) => {
      this.outstanding = false;
      if (result.status !== 'timeout' || this.stopped) return;
      this.stop();
      this.host.unresponsive(worker, Date.now() - sentAt);
    });
  }

  private checkLimits(): void {
    const { worker, options } = this;
    if (this.recycled || worker.state !== 'ready') return;
    let reason: RecycleReason | undefined;
    if (this.requestLimit > 0 && worker.requests >= this.requestLimit) reason = 'max-requests';
    else if (options.maxMemory > 0 && worker.rss > options.maxMemory) reason = 'max-memory';
    if (reason === undefined) return;
    this.recycled = true;
    this.host.recycle(worker, reason);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
