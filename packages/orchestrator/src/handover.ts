import type { ListenAddress } from '@handoff/protocol';
import type { AppListen } from './drop-in.js';
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
  /**
   * Drop-in mode: how many of a worker's open servers had asked for `app` before the one this socket
   * serves (0; 1 for a worker's second `listen(0)`), as `node:cluster` counts them: with `app`, what
   * a new primary's `dropIn.sockets` entry names. 0 outside drop-in mode.
   */
  readonly appIndex: number;
  /**
   * The Unix socket path this primary removes when it closes the socket (it bound it, or took it
   * over so); undefined for TCP and for a socket systemd passed. A new primary it is handed to
   * removes it instead (`dropIn.sockets[].unlink`), and this one must then close with
   * `close({ handedOver })`, which leaves it.
   */
  readonly unlinks: string | undefined;
}

/**
 * The sockets a new primary needs to serve what this one serves (an upgrade): every listener still
 * open, with its descriptor. Mode `primary` listens in a `net.Server`, mode `shared` holds a bound
 * handle; mode `reuseport` holds none once started (each worker has its own), so it has nothing to
 * hand over. The descriptors stay this process's: passing one duplicates it, so the socket stays
 * open in whichever process still holds a copy (`close()` of a listener closes only this one's).
 */
export function listeningSockets(bound: readonly BoundListener[], binder: { appListen(listener: number): AppListen | undefined } | undefined): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const l of bound) {
    const fd = l.descriptor();
    // A closed listener (a released drop-in address, reuseport's reservation) has no descriptor.
    if (fd === undefined) continue;
    const app = binder?.appListen(l.index);
    out.push({ listener: l.index, fd, address: l.address, app: app?.address, appIndex: app?.index ?? 0, unlinks: l.unlinksPath() });
  }
  return out;
}

/**
 * Closing after an upgrade: the sockets handed to the new primary are its to remove from the file
 * system now, so closing them here leaves their Unix socket paths (the new one serves them).
 */
export function leavePaths(bound: readonly BoundListener[], handedOver: readonly ListeningSocket[]): void {
  for (const s of handedOver) bound[s.listener]?.unlinkOnClose(undefined);
}
