/**
 * Requests waiting for their answer, by number: the worker numbers each drop-in `bind` it sends and
 * the primary echoes the number in its `listen` or `bind-error` answer.
 */
export class PendingRequests<T> {
  private next = 1;
  private readonly waiting = new Map<number, T>();

  /** Records `value` under a fresh request number, which it returns. */
  open(value: T): number {
    const request = this.next++;
    this.waiting.set(request, value);
    return request;
  }

  /** The value waiting under `request`, which is answered now; `undefined` if none waits. */
  settle(request: number | undefined): T | undefined {
    if (request === undefined) return undefined;
    const value = this.waiting.get(request);
    this.waiting.delete(request);
    return value;
  }

  /** How many wait. */
  get size(): number {
    return this.waiting.size;
  }
}

/** Answers awaited by key, first in first out (the primary answers each `unlisten` in order). */
export class Releasing {
  private readonly waiting = new Map<number, Array<() => void>>();

  /** `done` runs when the answer for `key` comes. */
  wait(key: number, done: () => void): void {
    const queue = this.waiting.get(key);
    if (queue === undefined) this.waiting.set(key, [done]);
    else queue.push(done);
  }

  /** The answer for `key` came: runs the oldest waiting for it. */
  settle(key: number): void {
    const queue = this.waiting.get(key);
    const done = queue?.shift();
    if (queue !== undefined && queue.length === 0) this.waiting.delete(key);
    done?.();
  }
}
