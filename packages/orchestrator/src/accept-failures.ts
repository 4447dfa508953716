import { channels, debug } from './diagnostics.js';

/** At most one report per listener and code in this many ms. */
export const ACCEPT_FAILURE_INTERVAL_MS = 1000;

/**
 * Counts failed accepts (EMFILE, ENFILE, ENOBUFS… while the OS cannot give the primary a
 * descriptor) and reports them once per interval, not once per connection: the first failure of an
 * interval at once, the rest as one count when it ends (`handoff:connection:accept-failed`,
 * `{ listener, code, count, intervalMs }`, and `NODE_DEBUG=handoff`).
 */
export class AcceptFailures {
  readonly byCode: Record<string, number> = {};
  private readonly pending = new Map<string, { listener: number; code: string; count: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly report: (failure: { listener: number; code: string; count: number; intervalMs: number }) => void = () => {}) {}

  failed(listener: number, code: string): void {
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
    const key = `${listener} ${code}`;
    if (this.timer === undefined) {
      this.publish({ listener, code, count: 1 });
      this.timer = setTimeout(() => this.flush(), ACCEPT_FAILURE_INTERVAL_MS).unref();
      return;
    }
    const entry = this.pending.get(key);
    if (entry === undefined) this.pending.set(key, { listener, code, count: 1 });
    else entry.count++;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.pending.size === 0) return;
    for (const entry of this.pending.values()) this.publish(entry);
    this.pending.clear();
    // Still failing: the next interval reports again at its end.
    this.timer = setTimeout(() => this.flush(), ACCEPT_FAILURE_INTERVAL_MS).unref();
  }

  private publish(entry: { listener: number; code: string; count: number }): void {
    const failure = { ...entry, intervalMs: ACCEPT_FAILURE_INTERVAL_MS };
    debug('accept failed on listener %d: %s (%d in %d ms)', entry.listener, entry.code, entry.count, ACCEPT_FAILURE_INTERVAL_MS);
    if (channels.acceptFailed.hasSubscribers) channels.acceptFailed.publish(failure);
    this.report(failure);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }
}
