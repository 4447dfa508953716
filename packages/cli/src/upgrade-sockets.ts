import { closeSync, lstatSync, unlinkSync } from 'node:fs';
import type { DropInAddressSocket, DropInSocket, ListeningSocket, PrimaryOptions } from '@handoff/orchestrator';

// What an upgrade hands over, socket by socket: which listeners of the old primary go (every one an
// app's listen() asked for), what each serves in the new primary (an app port through
// dropIn.ports, a path or a listen(0) through dropIn.sockets), and what the new one does with those
// its app no longer listens on.

/**
 * What a handed socket serves in the new primary: an app port (`dropIn.ports`, whatever host the
 * app names), or an app address a port number cannot name (`dropIn.sockets`): a Unix socket path,
 * or the `index`-th `listen(0)`, whose port then stays the same. `unlink`: the path is the new
 * primary's to remove when it closes the socket.
 */
export type Serves = { readonly port: number } | { readonly app: DropInAddressSocket['app']; readonly index: number; readonly unlink: boolean };

/** One socket handed over: its descriptor in the new primary and what it serves. */
export type HandedSocket = Serves & { readonly fd: number };

/** The sockets of a hand-over, as the new primary is told them (`Handover.sockets`). */
export interface HandedSockets {
  readonly sockets: readonly HandedSocket[];
}

/** How {@link handedSockets} tells two handed sockets apart. */
function servesKey(serves: Serves): string {
  if ('port' in serves) return `port:${serves.port}`;
  return 'path' in serves.app ? `path:${serves.app.path}` : `tcp:${serves.app.host ?? ''}:${serves.app.port}#${serves.index}`;
}

/** The sockets to hand over: every listener an app's `listen()` asked for, once per app address. */
export function handedSockets(sockets: readonly ListeningSocket[]): Array<ListeningSocket & { readonly serves: Serves }> {
  const out: Array<ListeningSocket & { readonly serves: Serves }> = [];
  const seen = new Set<string>();
  for (const s of sockets) {
    const app = s.app;
    if (app === undefined) continue;
    const serves: Serves = 'port' in app && app.port !== 0 ? { port: app.port } : { app: 'path' in app ? { path: app.path } : app.host === undefined ? { port: app.port } : { port: app.port, host: app.host }, index: s.appIndex, unlink: s.unlinks !== undefined };
    const key = servesKey(serves);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ ...s, serves });
  }
  return out;
}

/**
 * Closes the handed-over descriptors that no app listened on (its code changed), so that no socket
 * is left listening with nobody accepting, and removes the path of such a Unix socket that was
 * handed with it (the old primary leaves it to this one). By what they serve, not by descriptor: an
 * adopted one is the listener's to close (the native transport accepts on a duplicate and closes
 * it early, and its number may be another file's by now).
 */
export function closeUnadopted(handover: HandedSockets, served: readonly ListeningSocket[]): void {
  const taken = new Set(handedSockets(served).map((s) => servesKey(s.serves)));
  for (const handed of handover.sockets) {
    if (taken.has(servesKey(handed))) continue;
    try {
      if ('app' in handed && handed.unlink && 'path' in handed.app && isSocketFile(handed.app.path)) unlinkSync(handed.app.path);
      closeSync(handed.fd);
    } catch {
      // Not open, or the path is gone.
    }
  }
}

/**
 * Whether `path` is still a socket file. Nothing ties it to the descriptor (`fstat` of a socket
 * says its sockfs inode, not the file's, and its name is the one it was bound under), but no other
 * socket can be bound at a path that exists: it is the handed one unless someone removed it and
 * bound another there since.
 */
function isSocketFile(path: string): boolean {
  return lstatSync(path).isSocket();
}

/**
 * The new primary's options: each handed-over socket serves its app port (`dropIn.ports[port] =
 * { fd }`), in place of what the command line says (a port to bind, systemd's socket), since the
 * old primary holds those still; or its app address (`dropIn.sockets`: a path, a `listen(0)`).
 */
export function adoptHanded(options: PrimaryOptions, handover: HandedSockets | undefined): PrimaryOptions {
  const dropIn = options.dropIn;
  if (handover === undefined || typeof dropIn !== 'object') return options;
  const ports: Record<number, number | DropInSocket> = { ...dropIn.ports };
  const sockets: DropInAddressSocket[] = [...(dropIn.sockets ?? [])];
  for (const handed of handover.sockets) {
    if ('port' in handed) ports[handed.port] = { fd: handed.fd };
    else sockets.push({ app: handed.app, index: handed.index, fd: handed.fd, unlink: handed.unlink });
  }
  return { ...options, dropIn: { ...dropIn, ports, sockets } };
}
