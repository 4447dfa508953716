import type { Server } from 'node:net';
import { adoptedConnection, ConnectionFactory, type AdoptedHandle } from './connection.js';
import { IpcLink, type IpcMessageBuilder } from './ipc-link.js';
import { acceptInNode, acceptNatively, serverHandle } from './accept.js';
import { NativeLink, type NativeLinkLimits } from './native-link.js';
import type { NativeBinding } from './native.js';
import { handleFromFd, socketFromFd } from './socket.js';
import { withLink } from './spawn.js';
import { ChannelLink } from './worker-link.js';
import type { Acceptor, AcceptorOptions, Connection, PrimaryTransport, SpawnPlan } from './types.js';

/** Limits of the native primary, resolved once by `createPrimaryTransport`. */
export interface NativeLimits extends NativeLinkLimits {
  readonly maxAcceptsPerWakeup: number;
}

/**
 * The native transport: the addon accepts (TCP) and sends fds in numbered batches over one
 * SOCK_SEQPACKET socketpair per worker (native/*.c).
 */
export function createNativePrimary(binding: NativeBinding, limits: NativeLimits, message: IpcMessageBuilder): PrimaryTransport {
  const factory = new ConnectionFactory();
  return {
    name: 'native',
    fallbackReason: undefined,
    listen(server: Server, options: AcceptorOptions): Acceptor {
      const handle = serverHandle(server);
      if (typeof server.address() !== 'string') return acceptNatively(binding, factory, server, handle, options, limits.maxAcceptsPerWakeup);
      // A Unix-socket server: closing its handle would unlink the path, so Node keeps accepting
      // and each connection's fd is duplicated out of its handle (which is then closed).
      return acceptInNode(
        server,
        handle,
        options,
        (client) => {
          const fd = binding.dup(client.fd);
          client.close();
          return factory.make(options.listener, 'unix', fd, undefined, undefined, undefined, options.peer === true ? 'unix' : undefined);
        },
        (c) => binding.close(c.fd),
      );
    },
    prepareSpawn(): SpawnPlan {
      const [primaryEnd, workerEnd] = binding.socketpair();
      let open = true;
      const release = (): void => {
        if (!open) return;
        open = false;
        binding.close(primaryEnd);
        binding.close(workerEnd);
      };
      return {
        options: (base) => withLink(base, workerEnd),
        attach: (child, hooks) => {
          if (!open) throw new Error('@handoff/fdpass: this spawn plan was already attached or cancelled');
          // The child has its own copy now (spawn returns after exec); the primary's must go, or
          // the worker's death would never read as EOF.
          open = false;
          binding.close(workerEnd);
          return new ChannelLink(child, hooks, limits.cap, {
            native: (carrierHooks) => new NativeLink(binding, primaryEnd, child, carrierHooks, limits),
            ipc: (carrierHooks) => new IpcLink(child, carrierHooks, limits.cap, message, (c) => handleFromFd(binding.dup(c.fd), c.kind), (fd) => binding.close(fd)),
          });
        },
        cancel: release,
      };
    },
    toSocket: (c: Connection) => socketFromFd(c.fd, c.kind, false),
    destroy: (c: Connection) => binding.close(c.fd),
    adopt: (handle: unknown, listener: number, peer?: boolean) => {
      const h = handle as AdoptedHandle;
      // The connection keeps a duplicate of its fd; the handle (and its fd) goes.
      const c = adoptedConnection(factory, h, listener, peer === true, binding.dup(h.fd), undefined);
      h.close();
      return c;
    },
  };
}
