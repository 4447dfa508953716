import { Server as NetServer, type Server, type Socket } from 'node:net';
import { isPathAddress, type ListenMessage } from '@handoff/protocol';
import { kInternalServer } from './environment.js';
import { HandoffWorkerError, WorkerErrorCode } from './errors.js';

/**
 * The worker's side of one listener in the kernel modes: an internal `net.Server` that accepts
 * (on the primary's shared handle, or on its own `reusePort` socket) and passes each socket to the
 * user's server. The user's server itself never listens, so one server can take several listeners
 * and every mode reaches it the same way: through `'connection'`. `served` is the app's server that
 * takes them, whose socket options the acceptor copies.
 */
export function attachListener(message: ListenMessage, handle: unknown, served: Server, onSocket: (socket: Socket, acceptor: Server) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Node's accept builds each socket from its server's options: the acceptor takes the app
    // server's, so an http.Server's sockets are half-open capable (as it needs), paused if asked…
    // (keepAliveInitialDelay: a server keeps it in seconds, its option is in ms.)
    const app = served as Server & { allowHalfOpen?: boolean; pauseOnConnect?: boolean; noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number };
    const acceptor: Server = new NetServer(
      { allowHalfOpen: app.allowHalfOpen === true, pauseOnConnect: app.pauseOnConnect === true, noDelay: app.noDelay === true, keepAlive: app.keepAlive === true, keepAliveInitialDelay: (app.keepAliveInitialDelay ?? 0) * 1000 },
      (socket: Socket) => onSocket(socket, acceptor),
    );
    // Drop-in mode patches listen(): this server is handoff's own and must really listen.
    (acceptor as Server & { [kInternalServer]?: boolean })[kInternalServer] = true;
    const onError = (error: Error): void => {
      reject(new HandoffWorkerError(WorkerErrorCode.LISTEN_FAILED, `could not attach to listener ${message.listener} (${describe(message)}): ${error.message}`, { cause: error }));
    };
    acceptor.once('error', onError);
    const onListening = (): void => {
      acceptor.off('error', onError);
      resolve(acceptor);
    };
    if (message.mode === 'shared') {
      // The listening socket the primary bound: `listen({ _handle })` adopts an existing handle.
      acceptor.listen({ _handle: handle } as never, onListening);
    } else if (isPathAddress(message.address)) {
      onError(new Error('reusePort applies to TCP listeners only'));
    } else {
      acceptor.listen({ port: message.address.port, host: message.address.host, reusePort: true, backlog: message.backlog } as never, onListening);
    }
  });
}

function describe(message: ListenMessage): string {
  const a = message.address;
  return isPathAddress(a) ? a.path : `${a.host ?? '::'}:${a.port}, mode ${message.mode}`;
}
