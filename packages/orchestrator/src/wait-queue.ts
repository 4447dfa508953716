import { channels } from './diagnostics.js';

/** What waits: anything that belongs to a listener. */
export interface Waiter {
  readonly listener: number;
}

/** Limits of the wait for a worker. */
export interface WaitLimits {
  /** At most this many wait; one more is refused at once. */
  readonly maxPending: number;
  /** ms one may wait before it expires. */
  readonly queueTimeout: number;
}

interface Entry<T> {
  readonly item: T;
  readonly since: number;
}

/**
 * The connections that wait in the primary for a worker (none ready, or every one busy under
 * `oneInFlight`): bounded, each with a deadline, oldest first within its listener.
 *
 * - FIFO per listener: a connection that cannot be placed keeps its place and every later one of
 *   its listener stays behind it, but those of other listeners behind it still go (in drop-in mode
 *   other workers may serve them).
 * - Expiry: one timer, for the oldest; what expired is handed to `onExpired`, and what waited behind
 *   an expired one is tried at once.
 * - Compaction: the array is read from a moving head and compacted when half of it is spent, so a
 *   long queue costs no shift per connection.
 */
export class WaitQueue<T extends Waiter> {
  private readonly entries: Array<Entry<T>> = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Listeners whose next waiting item could not be placed, during one `flush()`. */
  private readonly blocked: number[] = [];

  /**
   * @param onExpired called with each item that waited past `queueTimeout`, oldest first.
   * @param onExpiredFlush called after expiry, to try what waited behind (the owner's `flush`).
   */
  constructor(
    private readonly limits: WaitLimits,
    private readonly onExpired: (item: T) => void,
    private readonly onExpiredFlush: () => void,
  ) {}

  /** How many wait now. */
  get length(): number {
    return this.entries.length - this.head;
  }

  /** Adds `item` at the back; false (and nothing kept) when `maxPending` already wait. */
  push(item: T, now = Date.now()): boolean {
    if (this.length >= this.limits.maxPending) return false;
    this.entries.push({ item, since: now });
    if (this.timer === undefined) this.arm();
    return true;
  }

  /**
   * Offers every waiting item to `place`, oldest first, keeping those it refuses in order, under the
   * FIFO-per-listener rule; `listeners` is how many listeners there are (once all are blocked,
   * nothing further is offered).
   */
  flush(place: (item: T) => boolean, listeners: number): void {
    const entries = this.entries;
    let read = this.head;
    let write = read;
    const blocked = this.blocked;
    blocked.length = 0;
    while (read < entries.length) {
      const entry = entries[read++]!;
      const listener = entry.item.listener;
      if (!blocked.includes(listener) && place(entry.item)) {
        if (channels.queueWait.hasSubscribers) publishWait(entry, 'dispatched');
        continue;
      }
      entries[write++] = entry;
      if (!blocked.includes(listener)) blocked.push(listener);
      if (blocked.length >= listeners) {
        // Every listener is blocked: keep the rest as it is.
        if (write === read) break;
        while (read < entries.length) entries[write++] = entries[read++]!;
      }
    }
    if (read === entries.length) entries.length = write;
    this.compact();
    if (this.length === 0) this.disarm();
  }

  /** Removes and returns everything that waits, oldest first (the primary is closing). */
  takeAll(): T[] {
    this.disarm();
    const items = this.entries.slice(this.head).map((e) => {
      if (channels.queueWait.hasSubscribers) publishWait(e, 'closing');
      return e.item;
    });
    this.entries.length = 0;
    this.head = 0;
    return items;
  }

  /** Hands every item that waited past its deadline at `now` to `onExpired`, then lets the rest try. */
  expire(now = Date.now()): void {
    while (this.head < this.entries.length) {
      const oldest = this.entries[this.head]!;
      if (oldest.since + this.limits.queueTimeout > now) break;
      this.head++;
      if (channels.queueWait.hasSubscribers) publishWait(oldest, 'timeout');
      this.onExpired(oldest.item);
    }
    this.onExpiredFlush();
    this.arm();
  }

  private arm(): void {
    this.disarm();
    const oldest = this.entries[this.head];
    if (oldest === undefined) return;
    const wait = Math.max(0, oldest.since + this.limits.queueTimeout - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.expire();
    }, wait);
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private compact(): void {
    if (this.head > 0 && this.head * 2 >= this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }
}

/** Publishes how long an entry waited, on `handoff:connection:queue-wait` (read by `@handoff/metrics`). */
function publishWait(entry: Entry<Waiter>, outcome: 'dispatched' | 'timeout' | 'closing'): void {
  channels.queueWait.publish({ listener: entry.item.listener, waitMs: Date.now() - entry.since, outcome });
}
