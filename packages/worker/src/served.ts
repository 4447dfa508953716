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
type AcceptedSocket = Socket & { server: Server; _server: Server };

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

  constructor(
    protected readonly served: ServedServer,
    private readonly onClose: () => void,
  ) {}

  close(): void {
    this.onClose();
  }

  /** The primary (or an internal acceptor) listens: nothing to do here, as for cluster's handle. */
  listen(): number {
    return 0;
  }

  /** `listen({ path, readableAll, writableAll })`: the primary made the socket file; its mode is the primary's. */
  fchmod(): number {
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
    // Closed, it waits for the primary's answers before its 'close' (see holdClose).
    return (this.handle !== undefined && !this.closed && this.handle.refed) || this.releases > 0;
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
   * Returns false when the socket was refused.
   */
  accept(socket: Socket, from?: Server): boolean {
    const server = this.server as ServerInternals;
    if (from !== undefined) (from as ServerInternals)._connections--;
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
    if (server.keepAlive === true) socket.setKeepAlive(true, server.keepAliveInitialDelay);
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
