import type { ListenAddress } from '@handoff/protocol';
import type { BoundListener } from './types.js';

/** One listening socket the primary holds, as another process would adopt it. */
export interface ListeningSocket {
  /** The listener's index (`listen` order, then drop-in binds). */
  readonly listener: number;
  /** This process's descriptor of the socket: pass it on (a child's stdio) and the child can adopt it as `{ fd }`. */
  readonly fd: number;
  /** Where it is bound. */
  readonly address: ListenAddress;
  /** Drop-in mode: the address the app's `listen()` asked for (the key a new primary maps to this socket); else undefined. */
  readonly app: ListenAddress | undefined;
}

/**
 * The sockets a new primary needs to serve what this one serves (an upgrade): every listener still
 * open, with its descriptor. Mode `primary` listens in a `net.Server`, mode `shared` holds a bound
 * handle; mode `reuseport` holds none once started (each worker has its own), so it has nothing to
 * hand over. The descriptors stay this process's: passing one duplicates it, so the socket stays
 * open in whichever process still holds a copy (`close()` of a listener closes only this one's).
 */
export function listeningSockets(bound: readonly BoundListener[], appAddress: (listener: number) => ListenAddress | undefined): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const l of bound) {
    const fd = l.descriptor();
    // A closed listener (a released drop-in address, reuseport's reservation) has no descriptor.
    if (fd === undefined) continue;
    out.push({ listener: l.index, fd, address: l.address, app: appAddress(l.index) });
  }
  return out;
}
