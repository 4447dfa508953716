import type { Server, Socket } from 'node:net';
import { createWorkerIntake, type WorkerIntake } from '@handoff/fdpass';
import { decodeConnectionPayload, type ReturnMessage } from '@handoff/protocol';
import { parseProxyHeader } from '@handoff/proxy-protocol';
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
 * Opens the native link the primary gave this worker (`@handoff/fdpass`, transport `native`), if
 * it gave one: each fd becomes a `net.Socket` here, with what the primary read first (the PROXY
 * header, the bytes after it) from its payload, and goes to the runtime's `take` as a socket
 * from the IPC channel does. A connection for a server the app already closed is given back on
 * the IPC channel (`return`, its handle stopped before a byte is read), as one that came over IPC.
 * Where the addon does not load, the intake closes the link and says `transport: 'ipc'`: the
 * worker's `hello` then leaves out the `fdpass` capability and the primary sends over IPC.
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
        host.giveBack(returnFields(listener, ++returned, decoded?.proxy, decoded?.head), handle);
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

/** The `return` fields of a connection that came on the native link (its id there is the worker's own count). */
function returnFields(listener: number, id: number, proxy: Uint8Array | undefined, head: Uint8Array | undefined): Omit<ReturnMessage, 'cmd' | 'v' | 'type'> {
  const fields: { listener: number; id: number; head?: string; proxy?: string; remoteAddress?: string; remotePort?: number; family?: 'IPv4' | 'IPv6' | 'unix' } = { listener, id };
  if (head !== undefined) fields.head = Buffer.from(head).toString('base64');
  if (proxy !== undefined) {
    fields.proxy = Buffer.from(proxy).toString('base64');
    const parsed = parseProxyHeader(Buffer.from(proxy), { maxHeaderBytes: 65_536 });
    const source = parsed.status === 'done' && parsed.header.command === 'proxy' ? parsed.header.source : undefined;
    if (source !== undefined) {
      fields.family = source.family;
      if (source.family !== 'unix') {
        fields.remoteAddress = source.address;
        fields.remotePort = source.port;
      }
    }
  }
  return fields;
}
