import type { Server, Socket } from 'node:net';
import { createWorkerIntake, type WorkerIntake } from '@handoff/fdpass';
import { decodeConnectionPayload, type ReturnMessage } from '@handoff/protocol';
import { adoptSentHeader } from './proxy.js';

/** What the worker's native link needs of the runtime. */
export interface LinkHost {
  /** The server that takes `listener`'s connections, as served here. */
  serverFor(listener: number): { readonly server: Server; readonly closed: boolean } | undefined;
  /** A connection for `served`, ready for its server (the runtime's one entry for every socket). */
  take(socket: Socket, listener: number): void;
  /** A connection for a server the app closed: back to the primary with a `return` message. */
  giveBack(fields: Omit<ReturnMessage, 'cmd' | 'v' | 'type'>, handle: unknown): void;
}

type Stoppable = { readStop(): number; reading?: boolean };

/**
 * The worker's one way in for a connection from the primary (`@handoff/fdpass`'s intake): an fd on
 * the native link the primary gave this worker, or a handle that came on the IPC channel (the
 * runtime's `connection` handler calls `receive`). Either becomes a `net.Socket` here, with what the
 * primary read first (the PROXY header, the bytes after it) from its payload, decoded once, and goes
 * to the runtime's `take`. A connection for a server the app already closed is given back on the
 * IPC channel (`return`, its handle stopped before a byte is read, its payload as it came). Where the
 * addon does not load, the intake closes the native link and the primary goes on over IPC.
 */
export function openLink(host: LinkHost): WorkerIntake {
  let returned = 0;
  return createWorkerIntake({
    ipcCmd: false,
    // The IPC channel holds a worker's process; the link must not keep it past that (an app that shuts down itself ends it).
    ref: false,
    allowHalfOpen: (listener) => (host.serverFor(listener)?.server as { allowHalfOpen?: boolean } | undefined)?.allowHalfOpen === true,
    onSocket: (socket, listener, payload) => {
      const decoded = payload === undefined ? undefined : decodeConnectionPayload(payload);
      const served = host.serverFor(listener);
      if (served === undefined || served.closed) {
        const handle = (socket as Socket & { _handle: Stoppable | null })._handle;
        if (handle === null) return;
        // The socket started reading when it was built: stop before a byte leaves the kernel.
        handle.reading = false;
        handle.readStop();
        host.giveBack(payload === undefined ? { listener, id: ++returned } : { listener, id: ++returned, payload: payload.toString('base64') }, handle);
        return;
      }
      // As net.Server's accept builds the socket for a server with pauseOnConnect.
      if ((served.server as { pauseOnConnect?: boolean }).pauseOnConnect === true) {
        const handle = (socket as Socket & { _handle: Stoppable | null })._handle;
        if (handle !== null) {
          handle.reading = false;
          handle.readStop();
        }
        (socket as { readableFlowing: boolean | null }).readableFlowing = false;
        // The stream asked its handle to read when it was built: not reading any more, so that
        // the app's resume() starts it again (else the socket never reads).
        (socket as Socket & { _readableState: { reading: boolean } })._readableState.reading = false;
      }
      if (decoded?.head !== undefined) socket.unshift(decoded.head);
      if (decoded?.proxy !== undefined) adoptSentHeader(socket, decoded.proxy);
      host.take(socket, listener);
    },
  });
}
