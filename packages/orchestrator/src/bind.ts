import { randomBytes } from 'node:crypto';
import { linkSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import type { ListenAddress } from '@handoff/protocol';
import type { PolicyMode } from '@handoff/policies';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import { adoptListener } from './activation.js';
import { primaryDefaults } from './defaults.js';
import type { FdListenOption, ListenOption } from './options.js';
import type { BoundListener, NativeHandle } from './types.js';

const UV_EADDRINUSE = -98;
const UV_EACCES = -13;
/** libuv's `UV_TCP_IPV6ONLY` bind flag (what Node's `listen({ ipv6Only: true })` passes). */
const UV_TCP_IPV6ONLY = 1;

/** A listener the primary binds itself (not a passed socket: see activation.ts). */
type AddressOption = Exclude<ListenOption, FdListenOption>;

function describe(option: AddressOption): string {
  return 'path' in option ? option.path : `${option.host ?? '::'}:${option.port}`;
}

function bindError(option: AddressOption, code: string | number, cause?: unknown): HandoffPrimaryError {
  const where = describe(option);
  if (code === 'EADDRINUSE' || code === UV_EADDRINUSE) {
    return new HandoffPrimaryError(
      PrimaryErrorCode.PORT_IN_USE,
      'path' in option
        ? `socket path ${where} is in use by another process; choose another path or remove the stale socket file`
        : `port ${option.port} is in use by another process (${where}); choose another port or stop that process`,
      { cause },
    );
  }
  const hint = code === 'EACCES' || code === UV_EACCES ? ' (ports below 1024 need privileges: run the primary with them; workers need none)' : '';
  return new HandoffPrimaryError(PrimaryErrorCode.LISTEN_FAILED, `could not listen on ${where}: ${String(code)}${hint}`, { cause });
}

/** What a listener is made of: its socket, how to close that socket, and the path it removes then. */
type ListenerParts = Pick<BoundListener, 'address' | 'mode' | 'server' | 'sharedHandle' | 'close'> & { readonly unlinks?: string | undefined };

/** The longest Unix socket path Linux takes (`sun_path` is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Where to bind a Unix socket that is to appear at `path`: a fresh name beside it, which `named()`
 * then links to `path`. libuv removes the path a pipe was bound to when the handle closes
 * (`uv__pipe_close`), which would take the path from the primary an upgrade handed the socket to;
 * bound under another name, closing removes that name (gone already), and the listener removes
 * `path` itself unless it was handed over. `link()` fails on an existing path as `bind()` does
 * (EADDRINUSE), so nothing is replaced. Undefined: bind at `path` itself (an abstract socket, or a
 * path too long for a name beside it: libuv then removes it at close, handed over or not).
 */
function bindingName(path: string): string | undefined {
  if (path.startsWith('\0') || process.platform === 'win32') return undefined;
  const beside = join(dirname(path), `.handoff-${randomBytes(4).toString('hex')}`);
  return Buffer.byteLength(beside) <= MAX_SOCKET_PATH ? beside : undefined;
}

/** Gives the socket bound at `bound` its name `path` (a taken path: EADDRINUSE), and drops `bound`. */
function name(option: AddressOption & { readonly path: string }, bound: string, close: () => void): void {
  try {
    linkSync(bound, option.path);
  } catch (error) {
    close();
    const code = (error as NodeJS.ErrnoException).code;
    throw bindError(option, code === 'EEXIST' ? 'EADDRINUSE' : (code ?? 'error'), error);
  } finally {
    try {
      unlinkSync(bound);
    } catch {
      // Not there.
    }
  }
}

/** The listener record: `close()` closes what `closeWith()` tied to it, then `parts`' socket. */
function listenerOf(index: number, option: ListenOption, parts: ListenerParts): BoundListener {
  const tied: Array<{ close(): void; readonly fd?: number | undefined }> = [];
  let closed = false;
  let unlinks = parts.unlinks;
  return {
    index,
    option,
    address: parts.address,
    mode: parts.mode,
    server: parts.server,
    sharedHandle: parts.sharedHandle,
    closeWith: (resource) => void tied.push(resource),
    descriptor: () => {
      if (closed) return undefined;
      const own = (parts.server as unknown as { _handle?: { fd?: number } | null } | undefined)?._handle?.fd ?? parts.sharedHandle?.fd;
      if (typeof own === 'number' && own >= 0) return own;
      for (const resource of tied) if (typeof resource.fd === 'number' && resource.fd >= 0) return resource.fd;
      return undefined;
    },
    unlinksPath: () => unlinks,
    unlinkOnClose: (path) => void (unlinks = path),
    // Once: a drop-in listener no worker holds any more is closed before the primary closes the rest.
    close: () => {
      if (closed) return;
      closed = true;
      // The path first, as libuv does: once the socket is closed, the path may be another's.
      if (unlinks !== undefined) {
        try {
          unlinkSync(unlinks);
        } catch {
          // Removed already.
        }
      }
      for (const resource of tied.splice(0)) resource.close();
      parts.close();
    },
  };
}

/**
 * Mode `primary`: the primary listens and accepts. Resolves once listening; a taken port rejects
 * with `HANDOFF_ERR_PORT_IN_USE`.
 */
function listenInPrimary(index: number, option: AddressOption): Promise<BoundListener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true });
    server.once('error', (error: NodeJS.ErrnoException) => reject(bindError(option, error.code ?? 'error', error)));
    const at = 'path' in option ? bindingName(option.path) : undefined;
    const onListening = (): void => {
      const a = server.address();
      if ('path' in option && at !== undefined) {
        try {
          name(option, at, () => server.close());
        } catch (error) {
          return reject(error);
        }
      }
      const address: ListenAddress = typeof a === 'string' || a === null ? { path: (option as { path: string }).path } : { port: a.port, host: a.address };
      const unlinks = at === undefined ? undefined : (option as { path: string }).path;
      resolve(listenerOf(index, option, { address, mode: 'primary', server, sharedHandle: undefined, close: () => server.close(), unlinks }));
    };
    if ('path' in option) server.listen({ path: at ?? option.path, backlog: option.backlog ?? primaryDefaults.listener.backlog }, onListening);
    else server.listen({ port: option.port, host: option.host, backlog: option.backlog ?? primaryDefaults.listener.backlog, ipv6Only: option.ipv6Only === true }, onListening);
  });
}

type CreateServerHandle = (address: string | null, port: number, addressType: number, fd: undefined, flags: number) => NativeHandle | number;

/**
 * Mode `shared`: the primary binds the socket but never listens on it, so it never accepts; each
 * worker calls `listen` on its copy and the kernel wakes one of them per connection. This is how
 * `node:cluster`'s `SharedHandle` does it (`net._createServerHandle`), and it is what lets the
 * primary keep a copy to hand to replacement workers.
 */
function bindShared(index: number, option: AddressOption): BoundListener {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  if (typeof create !== 'function') throw new HandoffPrimaryError(PrimaryErrorCode.LISTEN_FAILED, 'this Node.js runtime lacks net._createServerHandle, needed by mode shared');
  const at = 'path' in option ? bindingName(option.path) : undefined;
  const handle =
    'path' in option ? create(at ?? option.path, -1, -1, undefined, 0) : create(option.host ?? null, option.port, option.host === undefined ? 0 : net.isIP(option.host), undefined, option.ipv6Only === true ? UV_TCP_IPV6ONLY : 0);
  if (typeof handle === 'number') throw bindError(option, handle);
  // libuv reports EADDRINUSE of a TCP bind late (at listen); getsockname surfaces it now.
  const out: Record<string, unknown> = {};
  const err = handle.getsockname?.(out) ?? 0;
  if (err !== 0 && !('path' in option)) {
    handle.close();
    throw bindError(option, err);
  }
  if ('path' in option && at !== undefined) name(option, at, () => handle.close());
  const address: ListenAddress = 'path' in option ? { path: option.path } : { port: out.port as number, host: out.address as string };
  const unlinks = at === undefined ? undefined : (option as { path: string }).path;
  return listenerOf(index, option, { address, mode: 'shared', server: undefined, sharedHandle: handle, close: () => handle.close(), unlinks });
}

/** True when this Node has `reusePort` in `net.Server.listen` (22.12+ / 23.1+) on an OS that has SO_REUSEPORT. */
export function reusePortSupported(version = process.versions.node, platform = process.platform): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const runtime = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
  return runtime && (platform === 'linux' || platform === 'freebsd' || platform === 'darwin');
}

/**
 * Binds one listener for the given mode. Ports, including those below 1024, are bound here, in the
 * primary, so workers can run without privileges.
 */
export async function bindListener(index: number, option: ListenOption, mode: PolicyMode): Promise<BoundListener> {
  // A socket systemd (or another manager) passed is bound and listening already: adopted, not bound.
  if ('fd' in option) return adoptListener(option, mode).then((adopted) => listenerOf(index, option, { ...adopted, sharedHandle: adopted.sharedHandle as NativeHandle | undefined }));
  if (mode === 'primary') return listenInPrimary(index, option);
  if (mode === 'shared') return bindShared(index, option);
  // reuseport: each worker binds its own socket. The primary only checks and resolves the port.
  if (!reusePortSupported()) {
    throw new HandoffPrimaryError(
      PrimaryErrorCode.REUSEPORT_UNSUPPORTED,
      `policy reusePort() needs Node.js >= 22.12 or >= 23.1 on Linux, FreeBSD or macOS; this is Node ${process.versions.node} on ${process.platform}. Use roundRobin() or sharedHandle() instead`,
    );
  }
  if ('path' in option) throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, `policy reusePort() needs TCP listeners; ${option.path} is a Unix socket`);
  return reserveReusePort(index, option);
}

/**
 * Mode `reuseport`: the primary listens with `reusePort` itself, to learn the port (for port 0) and
 * to fail fast when it is taken, and holds it so until every worker's own `reusePort` socket
 * listens; then `start()` closes it and the workers' sockets alone form the SO_REUSEPORT group.
 *
 * While it listens it is a member of the group, so the kernel hashes some connections to it: the
 * primary attaches its dispatcher to it (round-robin, as in mode `primary`), so such a connection
 * is handed to a worker, never left hanging (a client racing `start()` must not wait forever).
 *
 * Why the primary does not keep the port for its whole life with a socket that never accepts: on
 * Linux only a listening socket reserves a TCP port. libuv sets `SO_REUSEADDR` on every TCP bind,
 * and Linux lets `SO_REUSEADDR` sockets share a port with any socket that is not listening, so a
 * bound, non-listening socket in the primary (`net._createServerHandle` with `UV_TCP_REUSEPORT`)
 * stops nobody: a plain `server.listen(port)` in another process succeeds beside it. And a
 * listening one that never accepts would take its share of connections from the kernel's hash and
 * leave them queued forever. So, once started, the port is held by the workers'
 * sockets; reloads keep it held (the new worker listens before the old one closes). The one window
 * left: if every worker is gone at once (all crashed), the port is free until a replacement
 * listens, and another process may take it; the replacement then fails to listen and is reported
 * as it is replaced with backoff.
 */
function reserveReusePort(index: number, option: Extract<ListenOption, { port: number }>): Promise<BoundListener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true });
    server.once('error', (error: NodeJS.ErrnoException) => reject(bindError(option, error.code ?? 'error', error)));
    server.listen({ port: option.port, host: option.host, reusePort: true, backlog: option.backlog ?? primaryDefaults.listener.backlog } as net.ListenOptions, () => {
      const a = server.address() as net.AddressInfo;
      const address: ListenAddress = { port: a.port, host: option.host ?? a.address };
      resolve(listenerOf(index, option, { address, mode: 'reuseport', server, sharedHandle: undefined, close: () => server.close() }));
    });
  });
}
