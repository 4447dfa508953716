/**
 * The connections a link holds unacknowledged, oldest first: a ring that grows by doubling, so
 * push and dropping the oldest allocate nothing per connection (Array#shift moves the rest).
 *
 *   head                 head + length
 *   v                    v
 *   [ . . a b c d e . . ]   (indices wrap at the capacity, a power of two)
 */
export class Fifo<T> {
  private items: Array<T | undefined>;
  private head = 0;
  length = 0;

  constructor(capacity = 16) {
    let size = 1;
    while (size < capacity) size *= 2;
    this.items = new Array<T | undefined>(size);
  }

  push(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = item;
    this.length++;
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length--;
    return item;
  }

  /** Forgets the `count` oldest items. */
  drop(count: number): void {
    const n = Math.min(count, this.length);
    for (let i = 0; i < n; i++) {
      this.items[this.head] = undefined;
      this.head = (this.head + 1) & (this.items.length - 1);
    }
    this.length -= n;
  }

  /** Removes and returns everything, oldest first. */
  takeAll(): T[] {
    const out: T[] = [];
    while (this.length > 0) out.push(this.shift() as T);
    return out;
  }

  private grow(): void {
    const items = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.length; i++) items[i] = this.items[(this.head + i) & (this.items.length - 1)];
    this.items = items;
    this.head = 0;
  }
}
