import type net from 'node:net';
import type { ListenAddress } from '@handoff/protocol';
import type { PolicyMode } from '@handoff/policies';
import type { ListenOption } from './options.js';

// The types several modules of the primary share: a leaf, so that no two modules import each other.

/** A native TCP or Pipe handle, as Node's `tcp_wrap` / `pipe_wrap` expose it. Internal. */
export interface NativeHandle {
  close(callback?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
  getpeername?(out: Record<string, unknown>): number;
  onconnection: ((status: number, handle?: NativeHandle) => void) | null;
  readonly fd: number;
}

/** A listener the primary owns. */
export interface BoundListener {
  readonly index: number;
  readonly option: ListenOption;
  /** Where it is bound, with the real port when 0 was asked for. */
  readonly address: ListenAddress;
  readonly mode: PolicyMode;
  /** Mode `primary` (and `reuseport` until started): the listening server whose connections the dispatcher takes. */
  readonly server: net.Server | undefined;
  /** Mode `shared`: the bound (not listening) socket every worker listens and accepts on. */
  readonly sharedHandle: NativeHandle | undefined;
  /**
   * Ties `resource` to the listener: `close()` closes it first, then the socket. The native
   * acceptor holds a duplicate of the listening socket, which must close with it.
   */
  closeWith(resource: { close(): void; readonly fd?: number | undefined }): void;
  /**
   * The descriptor of its listening socket in this process while open: Node's handle's, or (the
   * native acceptor closed that) the acceptor's duplicate; undefined once closed.
   */
  descriptor(): number | undefined;
  /**
   * The Unix socket path `close()` removes: the one this primary bound, or one it took over with the
   * socket in an upgrade; undefined: none (TCP, a socket systemd passed, or handed over: another
   * primary serves it now and removes it).
   */
  unlinksPath(): string | undefined;
  /** Sets what {@link unlinksPath} says. */
  unlinkOnClose(path: string | undefined): void;
  /** Closes what was tied to it, then its socket. */
  close(): void;
}
