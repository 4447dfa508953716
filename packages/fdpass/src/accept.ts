import type { AddressInfo, Server } from 'node:net';
import { ConnectionFactory, readPeer } from './connection.js';
import type { NativeAcceptor, NativeBinding } from './native.js';
import { FdpassErrorCode, HandoffFdpassError } from './errors.js';
import type { Acceptor, AcceptorOptions, AcceptorStats, Connection } from './types.js';

interface ServerHandle {
  readonly fd: number;
  onconnection: ((status: number, handle?: { readonly fd: number; close(): void }) => void) | null;
}

/** A listening server's native handle, or a typed error. */
export function serverHandle(server: Server): ServerHandle {
  const handle = (server as Server & { _handle?: ServerHandle | null })._handle;
  if (server.listening && handle != null && typeof handle.fd === 'number' && handle.fd >= 0) return handle;
  throw new HandoffFdpassError(FdpassErrorCode.NOT_LISTENING, 'listen() needs a net.Server that is listening (call it from the listening callback)');
}

function errnoError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`accept failed: ${code}`), { code, syscall: 'accept' });
}

/**
 * The native transport's acceptor for a TCP server: the addon accepts on a duplicate of the
 * listening fd, then the server's own handle is closed so Node never accepts on it (the socket,
 * its address and its backlog live on in the duplicate). One call from the addon per wake-up.
 */
export function acceptNatively(binding: NativeBinding, factory: ConnectionFactory, server: Server, handle: ServerHandle, options: AcceptorOptions, max: number): Acceptor {
  const address = server.address() as AddressInfo;
  const { listener, onConnection } = options;
  const peer = options.peer === true;
  const native: NativeAcceptor = new binding.Acceptor(
    handle.fd,
    (count, error) => {
      const fds = native.fds;
      let i = 0;
      try {
        for (; i < count; i++) {
          let c: Connection;
          if (peer) {
            const p = readPeer(native.peers!, i);
            c = factory.make(listener, 'tcp', fds[i]!, undefined, p.address, p.port, p.family);
          } else {
            c = factory.make(listener, 'tcp', fds[i]!, undefined, undefined, undefined, undefined);
          }
          onConnection(c);
        }
      } catch (e) {
        // The rest of this wake-up's connections would leak: nobody was told of them.
        for (i++; i < count; i++) binding.close(fds[i]!);
        throw e;
      }
      if (error !== undefined) options.onError?.(errnoError(error));
    },
    max,
    peer,
  );
  server.close();
  let closed = false;
  return {
    address,
    get fd() {
      return closed ? undefined : native.fd;
    },
    pause: () => native.pause(),
    resume: () => native.resume(),
    close: () => {
      if (closed) return;
      closed = true;
      native.close();
    },
    stats: (): AcceptorStats => {
      const s = native.stats();
      return { accepted: s.accepted, wakeups: s.wakeups, mostPerWakeup: s.mostPerWakeup };
    },
  };
}

/**
 * An acceptor where Node accepts (Unix-socket servers, whose handle must stay open: closing it
 * unlinks the path), replacing the handle's `onconnection` as node:cluster's round-robin does, so
 * no `net.Socket` is built. `take` turns each accepted handle into a connection.
 */
export function acceptInNode(
  server: Server,
  handle: ServerHandle,
  options: AcceptorOptions,
  take: (client: { readonly fd: number; close(): void }) => Connection,
  drop: (connection: Connection) => void,
): Acceptor {
  const address = server.address() as AddressInfo | string;
  let paused = false;
  const held: Connection[] = [];
  let accepted = 0;
  handle.onconnection = (status, client) => {
    if (status < 0 || client === undefined) {
      options.onError?.(errnoError(String(status)));
      return;
    }
    accepted++;
    const c = take(client);
    // Node has no way to stop a listening handle short of closing it: while paused, what it
    // accepts waits here.
    if (paused) held.push(c);
    else options.onConnection(c);
  };
  return {
    address,
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      for (const c of held.splice(0)) options.onConnection(c);
    },
    close: () => {
      handle.onconnection = null;
      server.close();
      for (const c of held.splice(0)) drop(c);
    },
    stats: () => ({ accepted, wakeups: accepted, mostPerWakeup: accepted > 0 ? 1 : 0 }),
  };
}
