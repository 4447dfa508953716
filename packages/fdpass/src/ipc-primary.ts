import { Socket, type SocketConstructorOpts, type Server } from 'node:net';
import { adoptedConnection, ConnectionFactory, type AdoptedHandle } from './connection.js';
import { IpcLink, type IpcMessageBuilder } from './ipc-link.js';
import { acceptInNode, serverHandle } from './accept.js';
import { withLink } from './spawn.js';
import type { ChildProcess } from 'node:child_process';
import { ChannelLink } from './worker-link.js';
import type { Acceptor, AcceptorOptions, Connection, LinkHooks, PrimaryTransport, SpawnPlan, WorkerLink } from './types.js';

interface ClientHandle {
  readonly fd: number;
  close(): void;
  getpeername?(out: Record<string, unknown>): number;
}

/**
 * The `cmd` of fdpass's own IPC connection message, when the caller brings no message of its own
 * (`ipcMessage`). `NODE_`-prefixed: Node routes it to 'internalMessage', away from user code.
 */
export const IPC_CMD = 'NODE_HANDOFF_FDPASS';

/** The default IPC message for a connection (the payload in base64): what `createWorkerIntake` listens for by default. */
export const defaultIpcMessage: IpcMessageBuilder = (c) =>
  c.payload === undefined ? { cmd: IPC_CMD, listener: c.listener, id: c.id } : { cmd: IPC_CMD, listener: c.listener, id: c.id, payload: Buffer.from(c.payload.buffer, c.payload.byteOffset, c.payload.byteLength).toString('base64') };

/**
 * The IPC transport, Node's child_process channel: the primary's Node accepts (no net.Socket is
 * built: the handle's `onconnection` is replaced), and each connection's handle crosses with one
 * message. Always available.
 */
export function createIpcPrimary(cap: number, message: IpcMessageBuilder, fallbackReason: string | undefined): PrimaryTransport {
  const factory = new ConnectionFactory();
  const peerOut: Record<string, unknown> = {};
  const link = (child: ChildProcess, hooks: LinkHooks): WorkerLink =>
    new ChannelLink(child, hooks, cap, {
      ipc: (carrierHooks) =>
        new IpcLink(
          child,
          carrierHooks,
          cap,
          message,
          () => {
            throw new Error('@handoff/fdpass: an IPC transport only carries connections it accepted');
          },
          () => {},
        ),
    });
  return {
    name: 'ipc',
    fallbackReason,
    listen(server: Server, options: AcceptorOptions): Acceptor {
      const handle = serverHandle(server);
      const kind = typeof server.address() === 'string' ? 'unix' : 'tcp';
      const peer = options.peer === true;
      return acceptInNode(
        server,
        handle,
        options,
        (client: ClientHandle) => {
          if (!peer) return factory.make(options.listener, kind, -1, client, undefined, undefined, undefined);
          if (kind === 'unix' || client.getpeername?.(peerOut) !== 0) return factory.make(options.listener, kind, -1, client, undefined, undefined, 'unix');
          return factory.make(options.listener, kind, -1, client, peerOut.address as string, peerOut.port as number, peerOut.family as 'IPv4' | 'IPv6');
        },
        (c) => (c.handle as ClientHandle).close(),
      );
    },
    prepareSpawn(): SpawnPlan {
      return { options: (base) => withLink(base, undefined), attach: link, cancel: () => {} };
    },
    toSocket: (c: Connection) => new Socket({ handle: c.handle, readable: true, writable: true } as SocketConstructorOpts),
    destroy: (c: Connection) => (c.handle as ClientHandle).close(),
    adopt: (handle: unknown, listener: number, peer?: boolean) => adoptedConnection(factory, handle as AdoptedHandle, listener, peer === true, -1, handle),
  };
}
