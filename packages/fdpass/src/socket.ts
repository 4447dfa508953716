import { Socket, type SocketConstructorOpts } from 'node:net';

/**
 * Builds `net.Socket`s around received fds as cheaply as Node allows.
 *
 * `new Socket({ fd })` asks libuv what the fd is (`uv_guess_handle`: fstat, getsockopt(SO_TYPE),
 * getsockname, and a failing ioctl: 4 syscalls per connection, measured with strace). The
 * transport already knows (the tag says tcp or unix), so where Node still exposes its stream
 * wraps (`process.binding('tcp_wrap')`, allow-listed in Node 20 and 24 and silent unless
 * `--pending-deprecation`), the socket gets a TCP or Pipe handle opened on the fd directly, as
 * `net.Server`'s accept path gives it one. Elsewhere, `{ fd }`.
 */

interface StreamWrap {
  open(fd: number): number;
  close(): void;
}
type WrapClass = new (type: number) => StreamWrap;
interface Wraps {
  readonly TCP: WrapClass;
  readonly Pipe: WrapClass;
  readonly tcpSocket: number;
  readonly pipeSocket: number;
}

function pendingDeprecation(): boolean {
  const flag = '--pending-deprecation';
  return process.execArgv.includes(flag) || (process.env.NODE_OPTIONS ?? '').includes(flag) || process.env.NODE_PENDING_DEPRECATION === '1';
}

function loadWraps(): Wraps | undefined {
  const bind = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
  if (typeof bind !== 'function' || pendingDeprecation()) return undefined;
  try {
    const tcp = bind.call(process, 'tcp_wrap') as { TCP?: WrapClass; constants?: { SOCKET?: number } };
    const pipe = bind.call(process, 'pipe_wrap') as { Pipe?: WrapClass; constants?: { SOCKET?: number } };
    if (typeof tcp.TCP !== 'function' || typeof pipe.Pipe !== 'function') return undefined;
    if (typeof tcp.constants?.SOCKET !== 'number' || typeof pipe.constants?.SOCKET !== 'number') return undefined;
    return { TCP: tcp.TCP, Pipe: pipe.Pipe, tcpSocket: tcp.constants.SOCKET, pipeSocket: pipe.constants.SOCKET };
  } catch {
    return undefined;
  }
}

let wraps: Wraps | null | undefined;

/** How sockets are built here: `handle` (a wrap opened on the fd) or `fd` (`new Socket({ fd })`). */
export function socketPath(): 'handle' | 'fd' {
  if (wraps === undefined) wraps = loadWraps() ?? null;
  return wraps === null ? 'fd' : 'handle';
}

/**
 * A connected, readable `net.Socket` that owns `fd` (closing the socket closes it). Throws if the
 * fd is not a socket of that kind; the caller then closes it.
 */
export function socketFromFd(fd: number, kind: 'tcp' | 'unix', allowHalfOpen: boolean): Socket {
  if (wraps === undefined) wraps = loadWraps() ?? null;
  if (wraps !== null) {
    const handle = kind === 'unix' ? new wraps.Pipe(wraps.pipeSocket) : new wraps.TCP(wraps.tcpSocket);
    const err = handle.open(fd);
    if (err === 0) return new Socket({ handle, readable: true, writable: true, allowHalfOpen } as SocketConstructorOpts);
    handle.close();
  }
  return new Socket({ fd, readable: true, writable: true, allowHalfOpen });
}

/** A `net.Socket` around a native handle received on the IPC channel. */
export function socketFromHandle(handle: unknown, allowHalfOpen: boolean): Socket {
  return new Socket({ handle, readable: true, writable: true, allowHalfOpen } as SocketConstructorOpts);
}

/** A bare native handle (TCPWrap / PipeWrap) that owns `fd`, for sending on the IPC channel. */
export function handleFromFd(fd: number, kind: 'tcp' | 'unix'): { close(): void } {
  if (wraps === undefined) wraps = loadWraps() ?? null;
  if (wraps !== null) {
    const handle = kind === 'unix' ? new wraps.Pipe(wraps.pipeSocket) : new wraps.TCP(wraps.tcpSocket);
    if (handle.open(fd) === 0) return handle;
    handle.close();
  }
  const socket = new Socket({ fd, readable: false, writable: false });
  return (socket as Socket & { _handle: { close(): void } })._handle;
}
