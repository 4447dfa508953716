/** Options of {@link Requests.open}. */
export interface RequestOptions<T> {
  /** Settles the request as unanswered after this many ms (`onTimeout` is told); absent: it waits for its answer. */
  readonly timeout?: number;
  /** The request went unanswered for `timeout` ms: it is settled, and this runs with its value. */
  readonly onTimeout?: (value: T) => void;
}

/**
 * The requests one end has sent and awaits answers to, by sequence number: one number space per
 * peer, whichever message asks (the primary's `ping` and `metrics-request`, a worker's `bind`), as
 * node:cluster's `sendHelper` keeps one `seq` for every callback. Each request is settled once: by
 * its answer (`settle`), its timeout, or `cancelAll` when the peer is gone.
 */
export class Requests<T> {
  private next = 1;
  private readonly waiting = new Map<number, { readonly value: T; readonly timer: NodeJS.Timeout | undefined }>();

  /** Records `value` under a fresh sequence number, which it returns (put it in the request). */
  open(value: T, options: RequestOptions<T> = {}): number {
    const seq = this.next;
    this.next = this.next >= Number.MAX_SAFE_INTEGER ? 1 : this.next + 1;
    let timer: NodeJS.Timeout | undefined;
    if (options.timeout !== undefined) {
      timer = setTimeout(() => {
        if (!this.waiting.delete(seq)) return;
        options.onTimeout?.(value);
      }, options.timeout);
      // A request in flight must not hold the process open.
      timer.unref();
    }
    this.waiting.set(seq, { value, timer });
    return seq;
  }

  /** The value waiting under `seq`, which is answered now; `undefined` if none waits (late, unknown, or settled already). */
  settle(seq: number | undefined): T | undefined {
    if (seq === undefined) return undefined;
    const entry = this.waiting.get(seq);
    if (entry === undefined) return undefined;
    this.waiting.delete(seq);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    return entry.value;
  }

  /** The peer is gone: settles every request still waiting and returns their values, oldest first. */
  cancelAll(): T[] {
    const values: T[] = [];
    for (const entry of this.waiting.values()) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      values.push(entry.value);
    }
    this.waiting.clear();
    return values;
  }

  /** How many wait. */
  get size(): number {
    return this.waiting.size;
  }
}
