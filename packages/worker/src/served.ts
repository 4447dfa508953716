import { chmodSync, statSync } from 'node:fs';
import { isIPv6, type AddressInfo, type Server, type Socket } from 'node:net';
import { isPathAddress, type ListenAddress } from '@handoff/protocol';

/** The parts of `net.Server` that its own `listen()` and accept path set, and that Node reads back. */
type ServerInternals = Server & {
  _handle: object | null;
  _connections: number;
  _pipeName?: string;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  pauseOnConnect?: boolean;
};
type AcceptedSocket = Socket & { server: Server; _server: Server; _handle: object | null };
/** Node's accept, as a listening handle's `onconnection(err, clientHandle)`. */
type OnConnection = (err: number, clientHandle: object) => void;

/**
 * Node 21 made `maxConnections = 0` refuse every connection (Node 20 read 0 as "no limit"); a
 * served server refuses exactly what the same server would refuse listening on this runtime.
 */
const ZERO_MEANS_NONE = Number(process.versions.node.split('.')[0]) >= 21;

/**
 * The stand-in for a listening handle that a served server holds as its `_handle`, as
 * `node:cluster`'s workers give theirs (lib/internal/cluster/child.js, `rr()`): with it, Node's own
 * `listening`, `address()`, `close()`, `getConnections()`, `ref()`/`unref()` and the `'close'` once
 * drained work as for a server that listens itself, and Node's `setupListenHandle` (`_listen2`)
 * takes it as a handle already bound. `close()` is how the worker learns that the app closed it.
 */
class StandInHandle {
  /** False after `server.unref()`: the server does not keep its process alive (see `ServedServer.live`). */
  refed = true;
  /** `listen({ path, readableAll, writableAll })`: the mode Node asked for (`fchmod`), set once the primary made the file. */
  pipeMode = 0;
  /** The served server's accept, as Node's `onconnection` (see `ServedServer.accept`). */
  readonly accepts: OnConnection;
  /**
   * What a listening handle calls for each connection: the served server's accept, unless the app
   * wrapped it (`server._handle.onconnection = …`, as it may wrap Node's); then the app's function
   * gets the connection's native handle first, and calls through to the accept.
   */
  onconnection: OnConnection;

  constructor(
    protected readonly served: ServedServer,
    private readonly onClose: () => void,
  ) {
    this.accepts = (_err, clientHandle) => served.acceptHandle(clientHandle);
    this.onconnection = this.accepts;
  }

  close(): void {
    this.onClose();
  }

  /** The primary (or an internal acceptor) listens: nothing to do here, as for cluster's handle. */
  listen(): number {
    return 0;
  }

  /** `listen({ path, readableAll, writableAll })`: the primary makes the socket file; its mode is set once it did (see `ServedServer.bound`). */
  fchmod(mode: number): number {
    this.pipeMode |= mode;
    return 0;
  }

  ref(): void {
    this.refed = true;
    this.served.refChanged();
  }

  unref(): void {
    this.refed = false;
    this.served.refChanged();
  }
}

/**
 * The stand-in of a TCP listener. A Unix socket listener's has no `getsockname`, as a Pipe handle
 * has none: Node's `address()` then answers the pipe's name (`_pipeName`).
 */
class TcpStandInHandle extends StandInHandle {
  /**
   * `server.address()`: the first listener's real address; before the primary answers a drop-in
   * `listen()`, the address asked for (port 0 until `'listening'` for `listen(0)`).
   */
  getsockname(out: Record<string, unknown>): number {
    const address = this.served.firstAddress();
    if (address === undefined || isPathAddress(address)) return 0;
    const host = address.host ?? '::';
    out.address = host;
    out.family = isIPv6(host) ? 'IPv6' : 'IPv4';
    out.port = address.port;
    return 0;
  }
}

/**
 * One app server as a handoff worker serves it: it never listens (the primary or an internal
 * acceptor accepts), yet behaves as a server that does. Once attached it holds a stand-in handle, is
 * `listening`, reports the listener's real `address()`, has emitted `'listening'` (which is also what
 * starts http.Server's headers/request timeout checks), counts its connections for
 * `getConnections()` and `maxConnections`, and emits `'close'` only after the app's `close()`, once
 * its connections are done.
 */
export class ServedServer {
  /** Listener ids whose connections this server takes, with where each is bound. */
  private readonly addresses = new Map<number, ListenAddress>();
  private handle: StandInHandle | undefined;
  /** True once the app (or the worker's exit) closed it: it takes no new connection. */
  closed = false;
  /** True once the app itself closed it (`server.close()`), not the worker on its way out. */
  closedByApp = false;
  /** Connections refused at `maxConnections`, as Node refuses them. */
  dropped = 0;
  /** Drop-in mode: answers of the primary that the server's `'close'` waits for (see `holdClose`). */
  private releases = 0;
  /** Drop-in mode: where the app's pending `listen()` asked to be bound, until the primary answers. */
  private asked: ListenAddress | undefined;
  /** Sockets handed to an app's own `onconnection` (by their native handle), until it calls through to the accept. */
  private readonly handedOver = new WeakMap<object, Socket>();
  /** Whether the last socket handed to `take` was taken (not refused at `maxConnections`). */
  private took = false;

  /**
   * @param onAppClose called when the app itself closes the server (`server.close()`), not when the
   *   worker closes it on its way out.
   * @param onAccepted called with each socket it takes, just before `'connection'` (the worker
   *   tracks it for drains and load reports).
   */
  constructor(
    readonly server: Server,
    private readonly onAppClose: (served: ServedServer) => void,
    private readonly onAccepted: (socket: Socket) => void,
    /** Called when whether the server keeps its process alive may have changed (see `live`). */
    private readonly onLiveChanged: () => void = () => {},
  ) {}

  /** True once a listener was attached: the server is (or was) listening. */
  get attached(): boolean {
    return this.handle !== undefined;
  }

  /** True while the server listens (or its drop-in `listen()` waits for the primary) and is not unref()ed: it keeps its process alive, as a listening handle does. */
  get live(): boolean {
    // While the primary binds, even an unref()ed server holds it: alone, its 'listening' (and the
    // listen() callback) comes in the next tick whatever else keeps the process. Closed, it waits
    // for the primary's answers before its 'close' (see holdClose).
    return (this.handle !== undefined && !this.closed && (this.handle.refed || this.asked !== undefined)) || this.releases > 0;
  }

  /** The stand-in was ref()ed or unref()ed. */
  refChanged(): void {
    this.onLiveChanged();
  }

  /**
   * Drop-in mode: the app's `listen()` asked for `address` (again, after a `close()`, or for the
   * first time). Returns the stand-in the server holds as its `_handle` from now on: it is listening,
   * as a Node server is once `listen()` returned, while the primary binds.
   */
  open(address: ListenAddress): object {
    this.addresses.clear();
    this.closed = false;
    this.closedByApp = false;
    this.asked = address;
    const onClose = (): void => this.closedBy(true);
    this.handle = isPathAddress(address) ? new StandInHandle(this, onClose) : new TcpStandInHandle(this, onClose);
    this.onLiveChanged();
    return this.handle;
  }

  /**
   * Drop-in mode: the server's `'close'` waits for one more answer of the primary (it let go of a
   * listener of this server). Returns what to call when it comes. Node emits `'close'` through
   * `_emitCloseIfDrained` once the handle is gone and the connections are done; while answers are
   * due, this server's own copy of that method waits too.
   */
  holdClose(): () => void {
    const server = this.server as ServerInternals & { _emitCloseIfDrained(): void };
    if (this.releases++ === 0) {
      server._emitCloseIfDrained = function (this: typeof server): void {};
    }
    return () => {
      if (--this.releases > 0) return;
      delete (server as Partial<typeof server>)._emitCloseIfDrained;
      server._emitCloseIfDrained();
      this.onLiveChanged();
    };
  }

  /** True while `handle` (from `open()`) is the server's open stand-in: not closed, nor replaced by a later `listen()`. */
  holds(handle: object): boolean {
    return this.handle === handle && !this.closed;
  }

  /** Drop-in mode: the primary bound what `open()` asked for; this server takes `listener`'s connections. */
  bound(listener: number, address: ListenAddress): void {
    this.asked = undefined;
    this.addresses.set(listener, address);
    // The mode listen({ readableAll, writableAll }) asked for, as Node sets it (libuv's uv_pipe_chmod).
    if (isPathAddress(address) && this.handle !== undefined && this.handle.pipeMode !== 0) pipeChmod(address.path, this.handle.pipeMode);
    this.onLiveChanged();
  }

  /** Drop-in mode: the primary could not bind what `open()` asked for: the server is not listening. */
  failed(): void {
    this.asked = undefined;
    this.closed = true;
    this.onLiveChanged();
  }

  /** Listener ids this server takes connections of. */
  listeners(): IterableIterator<number> {
    return this.addresses.keys();
  }

  /** The address of the lowest listener id: what `address()` reports when there are several. */
  firstAddress(): ListenAddress | undefined {
    let first: number | undefined;
    for (const id of this.addresses.keys()) if (first === undefined || id < first) first = id;
    return first === undefined ? this.asked : this.addresses.get(first);
  }

  /**
   * The worker now takes the connections of `listener`, bound at `address`, for this server. The
   * first one makes the server listening and emits `'listening'` (once).
   */
  attach(listener: number, address: ListenAddress): void {
    this.addresses.set(listener, address);
    if (this.handle !== undefined || this.closed) return;
    const server = this.server as ServerInternals;
    const onClose = (): void => this.closedBy(true);
    if (isPathAddress(address)) {
      this.handle = new StandInHandle(this, onClose);
      server._pipeName = address.path;
    } else {
      this.handle = new TcpStandInHandle(this, onClose);
    }
    server._handle = this.handle;
    server.emit('listening');
  }

  /**
   * Takes a socket as net.Server's own accept does (lib/net.js, `onconnection`): refuses it over
   * `maxConnections` (`'drop'`, then closed), counts it for `getConnections()` (the socket's close
   * takes it off), applies the server's socket options and emits `'connection'`. `from` is the
   * internal acceptor that accepted it in the kernel modes: the count moves from it to this server.
   * An app that wrapped `server._handle.onconnection` gets the socket's native handle first, as
   * alone. Returns false when the socket was refused (or the app's `onconnection` kept it).
   */
  accept(socket: Socket, from?: Server): boolean {
    if (from !== undefined) (from as ServerInternals)._connections--;
    const handle = this.handle;
    const native = (socket as AcceptedSocket)._handle;
    if (handle === undefined || handle.onconnection === handle.accepts || native === null || native === undefined) return this.take(socket);
    // The app wrapped its handle's onconnection: it sees the native handle first, as it would alone.
    this.handedOver.set(native, socket);
    this.took = false;
    handle.onconnection(0, native);
    return this.took;
  }

  /** The accept as Node's `onconnection`: `clientHandle` is the native handle of a socket `accept` handed to the app's own. */
  acceptHandle(clientHandle: object): void {
    const socket = this.handedOver.get(clientHandle);
    if (socket === undefined) return;
    this.handedOver.delete(clientHandle);
    this.take(socket);
  }

  private take(socket: Socket): boolean {
    const server = this.server as ServerInternals;
    this.took = false;
    const max = server.maxConnections as number | null | undefined;
    if (typeof max === 'number' && (ZERO_MEANS_NONE || max > 0) && server._connections >= max) {
      this.dropped++;
      server.emit('drop', dropInfo(socket));
      socket.destroy();
      return false;
    }
    (socket as AcceptedSocket).server = server;
    (socket as AcceptedSocket)._server = server;
    server._connections++;
    // http.Server sets noDelay: without it, responses written in pieces wait on Nagle's algorithm.
    if (server.noDelay === true) socket.setNoDelay(true);
    // In seconds on the server (Node's constructor divides the option by 1000), in ms for the socket.
    if (server.keepAlive === true) socket.setKeepAlive(true, (server.keepAliveInitialDelay ?? 0) * 1000);
    this.took = true;
    this.onAccepted(socket);
    server.emit('connection', socket);
    return true;
  }

  /**
   * The worker is exiting (drain done): closes the server as `close()` would, without telling the
   * primary, and resolves once it emitted `'close'` (or after `boundMs`, if a connection it counted
   * is somehow still open).
   */
  closeForExit(boundMs: number): Promise<void> {
    if (this.closed || this.handle === undefined) return Promise.resolve();
    this.closedBy(false);
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, boundMs);
      timer.unref();
      this.server.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.server.close();
    });
  }

  private closedBy(app: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.closedByApp = app;
    if (app) this.onAppClose(this);
    // A drop-in server may listen again: on new listeners, which the primary says.
    if (app) this.addresses.clear();
    this.asked = undefined;
    this.onLiveChanged();
  }
}

/**
 * libuv's `uv_pipe_chmod`, which Node's `listen({ path, readableAll, writableAll })` calls: adds
 * read (`UV_READABLE`, 1) and write (`UV_WRITABLE`, 2) permission for everyone to the socket file.
 * An abstract socket has no file; a failure leaves the mode as the primary made it.
 */
function pipeChmod(path: string, mode: number): void {
  if (path.startsWith('\0')) return;
  const desired = (mode & 1 ? 0o444 : 0) | (mode & 2 ? 0o222 : 0);
  try {
    const current = statSync(path).mode & 0o7777;
    if ((current & desired) !== desired) chmodSync(path, current | desired);
  } catch {
    // Gone, or not the worker's to change: as the primary made it.
  }
}

/** What Node's `'drop'` event carries: both ends of the refused connection. */
function dropInfo(socket: Socket): Record<string, unknown> {
  const local = socket.address() as AddressInfo | Record<string, never>;
  return {
    localAddress: local.address,
    localPort: local.port,
    localFamily: local.family,
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
  };
}
