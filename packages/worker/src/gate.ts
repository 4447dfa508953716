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
  readonly armed = new Map<number, Server>();
  /** Listener ids this worker has attached once (a `listen` for one of them re-arms it). */
  readonly known = new Set<number>();
  /** Listener ids being attached right now: a duplicate re-arm meanwhile is not attached twice. */
  readonly arming = new Set<number>();
  paused = false;

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
