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
