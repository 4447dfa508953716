import type { Server } from 'node:net';

/**
 * Balanced shared mode, the worker's side: the acceptors of the kernel modes are armed while this
 * worker holds fewer open connections than its limit. At the limit it closes them (its copies of the
 * listening sockets: the sockets stay open in the primary and the other workers, and what waits in
 * their accept queues stays there) and reports `paused`; the primary re-arms it with `listen`.
 * Without a limit (every other mode) the gate is always open and costs one comparison per connection.
 */
export class AcceptGate {
  /** Open connections at which the acceptors close; infinite unless the primary sets one. */
  limit = Number.POSITIVE_INFINITY;
  /** Armed acceptors by listener id. */
  private readonly armed = new Map<number, Server>();
  /** Listener ids this worker has attached once (a `listen` for one of them re-arms it). */
  private readonly known = new Set<number>();
  /** Listener ids being attached right now: a duplicate re-arm meanwhile is not attached twice. */
  private readonly arming = new Set<number>();
  paused = false;

  /** True while `listener` has an acceptor, armed or being attached: another copy is not needed. */
  holds(listener: number): boolean {
    return this.armed.has(listener) || this.arming.has(listener);
  }

  /** A `listen` for `listener` arrived: true when it re-arms one attached before (which un-pauses). */
  begin(listener: number): boolean {
    const again = this.known.has(listener);
    if (again) this.paused = false;
    this.known.add(listener);
    return again;
  }

  /**
   * Attaches `listener`'s acceptor through `attach` (a duplicate meanwhile is refused by `holds`),
   * then keeps it armed, or closes it if `keep()` says it is no longer wanted (a drain or the
   * app's close() came meanwhile).
   */
  async arm(listener: number, attach: () => Promise<Server>, keep: () => boolean): Promise<void> {
    this.arming.add(listener);
    let acceptor: Server;
    try {
      acceptor = await attach();
    } finally {
      this.arming.delete(listener);
    }
    if (keep()) this.armed.set(listener, acceptor);
    else acceptor.close();
  }

  /** Closes `listener`'s acceptor for good (the app closed its server): a later `listen` for it attaches anew. */
  disarm(listener: number): void {
    this.armed.get(listener)?.close();
    this.armed.delete(listener);
    this.known.delete(listener);
  }

  /** After a connection was taken: closes the acceptors when `open` reached the limit. Returns true if it paused now. */
  check(open: number): boolean {
    if (open < this.limit || this.paused || this.armed.size === 0) return false;
    this.close();
    this.paused = true;
    return true;
  }

  /** Closes every acceptor (pause, drain, exit). */
  close(): void {
    for (const acceptor of this.armed.values()) acceptor.close();
    this.armed.clear();
  }
}
