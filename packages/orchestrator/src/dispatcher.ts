// Longer than most modules: the per-connection path of mode primary (accept, pick, send, settle,
// re-dispatch) is kept in one file on purpose, so it can be read, and profiled, top to bottom.
import type { Server } from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Connection, PrimaryTransport } from '@handoff/fdpass';
import { connectionMessage, connectionPayloadOf, decodeConnectionPayload, type ReturnMessage } from '@handoff/protocol';
import type { ConnectionInfo, PrimaryPolicy } from '@handoff/policies';
import type { BoundListener, NativeHandle } from './types.js';
import { channels, debug } from './diagnostics.js';
import { refuseConnection, type RejectReason } from './refuse.js';
import { DescriptorBudget } from './descriptors.js';
import { WaitQueue } from './wait-queue.js';
import { offerOneBatch } from './one-batch.js';
import { proxyProtocolOf } from './options.js';
import { peerOfPayload, ProxyIntake, type ProxyRefusal } from './proxy-intake.js';
import type { LinkListener, PendingConnection, WorkerProcess } from './worker-process.js';

export type { RejectReason } from './refuse.js';

/** What the dispatcher needs from the primary. */
export interface DispatcherHost {
  /** Workers that may be picked for a connection of `listener`: ready, not draining, ascending id. */
  readyWorkers(listener: number): readonly WorkerProcess[];
  onRejected(id: number, listener: number, reason: RejectReason): void;
  /** A connection closed for want of a valid PROXY header (a `proxyProtocol` listener). */
  onProxyRefused?(refusal: ProxyRefusal): void;
  /** A draining worker gave back a connection between requests (it is placed again). */
  onMoved?(listener: number): void;
  /** During a rolling reload, the id of its first new worker: a moved connection goes to one from it on. */
  newGenerationFrom?(): number | undefined;
  /** accept() failed on a listener (`code`: EMFILE, ENFILE, ENOBUFS…); the OS keeps the connection or closes it. */
  onAcceptFailed?(listener: number, code: string): void;
}

/** Limits of the wait for a ready worker. */
export interface QueueLimits {
  readonly maxPending: number;
  readonly queueTimeout: number;
}

/** `EMFILE` for -24 (libuv's status) or '-24' (the IPC acceptor's code); a name stays as it is. */
function errnoName(code: number | string | undefined): string {
  const n = Number(code);
  if (Number.isInteger(n) && n < 0) {
    try {
      return getSystemErrorName(n);
    } catch {
      return String(code);
    }
  }
  return String(code);
}

/** A connection is tried on at most this many workers before the primary gives up on it (503). */
const MAX_ATTEMPTS = 8;

/**
 * The protocol's `connection` message for a connection that crosses on the IPC channel (the
 * transport's `ipcMessage`): its listener, its id and its payload, the same bytes the native link
 * carries with an fd.
 */
export function ipcConnectionMessage(c: Connection): object {
  return connectionMessage(c.listener, c.id, c.payload);
}

/**
 * The primary's accept path in mode `primary`: the transport (`@handoff/fdpass`, native or IPC)
 * accepts each connection, the policy picks a worker, and the worker's link carries it there.
 * The primary keeps its copy until the worker acknowledges it (IPC: Node's own `NODE_HANDLE_ACK`;
 * native: the worker's cumulative ack per wake-up), and a link holds at most its cap
 * unacknowledged; so a connection whose worker dies or refuses first goes to another one; with no
 * worker ready it waits in a bounded queue, and past the limits it is answered 503. Nothing is
 * dropped silently.
 */
export class Dispatcher implements LinkListener {
  private readonly queue: WaitQueue<Connection>;
  private closing = false;
  private readonly listeners: BoundListener[] = [];
  /** Reused for every pick (the policy must not keep it): one allocation less per connection. */
  private readonly pickInfo: { listener: number; remoteAddress: string | undefined; remotePort: number | undefined; family: ConnectionInfo['family'] } = {
    listener: 0,
    remoteAddress: undefined,
    remotePort: undefined,
    family: undefined,
  };
  private readonly free: WorkerProcess[] = [];
  /** While `flushQueue` runs: the queued connections it has not placed yet (-1 otherwise). */
  private flushLeft = -1;
  /** Reads the PROXY header of each connection of a `proxyProtocol` listener, before the pick. */
  private proxyIntake: ProxyIntake | undefined;
  /** The connections held here against the primary's RLIMIT_NOFILE: past it, 503 before EMFILE. */
  private readonly descriptors = new DescriptorBudget();

  constructor(
    private readonly policy: PrimaryPolicy,
    private readonly host: DispatcherHost,
    limits: QueueLimits,
    private readonly transport: PrimaryTransport,
  ) {
    this.queue = new WaitQueue<Connection>(
      limits,
      (connection) => this.reject(connection, 'queue-timeout'),
      // What waited behind the expired ones (a connection the policy declined) may go now.
      () => this.flushQueue(),
    );
  }

  /**
   * Takes over a listening server's accepts through the transport: native, its addon accepts on a
   * duplicate of the socket; IPC, like `node:cluster`'s round-robin handle
   * (lib/internal/cluster/round_robin_handle.js), it replaces the native handle's `onconnection`.
   * Either way the primary never builds a `net.Socket` for a connection it only passes on. A
   * listener with `proxyProtocol` is accepted by Node (the header is read through a socket first);
   * its connections join the transport once the header is in.
   */
  attach(listener: BoundListener): void {
    const server = listener.server as (Server & { _handle: NativeHandle | null }) | undefined;
    const handle = server?._handle;
    if (server === undefined || handle === null || handle === undefined) throw new Error('dispatcher: listener is not listening');
    this.listeners[listener.index] = listener;
    const index = listener.index;
    const proxy = proxyProtocolOf(listener.option);
    if (proxy !== undefined) {
      handle.onconnection = (status: number, client?: NativeHandle): void => {
        if (status < 0 || client === undefined) {
          this.host.onAcceptFailed?.(index, errnoName(status));
          return;
        }
        this.intake().read(index, client, proxy);
      };
      return;
    }
    const acceptor = this.transport.listen(server, {
      listener: index,
      peer: this.policy.needsRemoteAddress === true,
      onConnection: this.acceptBound,
      onError: (error) => this.host.onAcceptFailed?.(index, errnoName(error.code)),
    });
    // The native acceptor holds a duplicate of the listening socket: it closes with the listener.
    listener.closeWith(acceptor);
  }

  private intake(): ProxyIntake {
    this.proxyIntake ??= new ProxyIntake({
      accepted: (listener, handle, peer, payload) => {
        const connection = this.transport.adopt(handle, listener) as PendingConnection;
        connection.proxied = peer;
        connection.payload = payload;
        this.accept(connection);
      },
      refused: (refusal) => this.host.onProxyRefused?.(refusal),
    });
    return this.proxyIntake;
  }

  /** A new connection, as the transport accepted it. */
  accept(connection: Connection): void {
    this.descriptors.took();
    if (this.closing) {
      this.reject(connection, 'closing');
      return;
    }
    if (this.descriptors.exhausted) {
      this.reject(connection, 'descriptors');
      return;
    }
    this.place(connection);
  }

  private readonly acceptBound = (connection: Connection): void => this.accept(connection);

  /**
   * A connection a worker gave back: its app had closed the server by the time it arrived, or
   * (`reason: 'moved'`) a drain moved it, between requests. Placed again like one the worker never
   * received, with what it came with (bytes read, PROXY header); a moved one like one just accepted.
   */
  returned(from: WorkerProcess, message: ReturnMessage, handle: NativeHandle): void {
    if (message.reason === 'moved') {
      this.moved(from, message, handle);
      return;
    }
    const payload = connectionPayloadOf(message);
    // Behind a proxy the client is the one its header names: read again only for a policy that picks by it.
    const proxied = payload !== undefined && this.policy.needsRemoteAddress === true ? peerOfPayload(decodeConnectionPayload(payload)?.proxy) : undefined;
    const connection = this.transport.adopt(handle, message.listener, proxied === undefined && this.policy.needsRemoteAddress === true) as PendingConnection;
    this.descriptors.took();
    connection.attempts = 1;
    connection.payload = payload;
    if (proxied !== undefined) connection.proxied = proxied;
    this.redispatch(connection, from, 'server-closed');
  }

  /**
   * A connection a draining worker gave back between requests: its unread bytes wait in the kernel,
   * so it is placed as if just accepted (the policy picks, or it waits in the queue under the same
   * bounds). Past them, one that already carried requests (`reused`, an idle keep-alive connection)
   * is closed, as the worker would have closed it; a fresh one is answered 503.
   */
  private moved(from: WorkerProcess, message: ReturnMessage, handle: NativeHandle): void {
    const connection = this.transport.adopt(handle, message.listener, this.policy.needsRemoteAddress === true) as PendingConnection;
    if (message.reused === true) connection.reused = true;
    connection.preferFrom = this.host.newGenerationFrom?.() ?? from.id + 1;
    this.descriptors.took();
    if (channels.moved.hasSubscribers) channels.moved.publish({ id: connection.id, listener: connection.listener, from: from.id, reused: message.reused === true });
    this.host.onMoved?.(connection.listener);
    if (this.closing) this.reject(connection, 'closing');
    else this.place(connection);
  }

  /** Sends `connection` to a worker the policy picks, or queues it. */
  private place(connection: Connection): void {
    if (!this.tryPlace(connection)) this.enqueue(connection);
  }

  /**
   * Sends `connection` to a worker the policy picks; false when there is none to pick now (no ready
   * worker, every worker has a batch in flight under `oneInFlight`, or the policy declined).
   */
  private tryPlace(connection: Connection): boolean {
    let workers = this.host.readyWorkers(connection.listener);
    const preferFrom = (connection as PendingConnection).preferFrom;
    if (preferFrom !== undefined) workers = this.fromId(workers, preferFrom);
    if (this.policy.oneInFlight === true) workers = offerOneBatch(workers, this.flushLeft >= 0 ? this.flushLeft : this.queue.length + 1, this.free);
    if (workers.length === 0) return false;
    const info = this.pickInfo;
    info.listener = connection.listener;
    if (this.policy.needsRemoteAddress === true) this.readPeer(connection);
    const worker = this.policy.pick(workers, info) as WorkerProcess | undefined;
    if (worker === undefined || worker.state !== 'ready') return false;
    if (this.sendTo(worker, connection)) return true;
    // Its link refused: it holds as many unacknowledged as it may (a stopped worker), or it is
    // gone. One more pick among those that can take one; else the connection waits for an ack.
    const open = this.withRoom(workers, worker);
    if (open.length === 0) return false;
    const second = this.policy.pick(open, info) as WorkerProcess | undefined;
    return second !== undefined && second.state === 'ready' && this.sendTo(second, connection);
  }

  /**
   * A moved connection goes to a worker of id `from` or later where there is one: in a rolling
   * reload, a worker of the new generation, not an old one about to drain (it would move again).
   * Only moved connections pay for this array.
   */
  private fromId(workers: readonly WorkerProcess[], from: number): readonly WorkerProcess[] {
    const newer = workers.filter((w) => w.id >= from);
    return newer.length > 0 ? newer : workers;
  }

  /** The workers other than `refused` whose link has room; reuses one array (pick must not keep it). */
  private withRoom(workers: readonly WorkerProcess[], refused: WorkerProcess): readonly WorkerProcess[] {
    const free = this.free === workers ? [] : this.free;
    free.length = 0;
    for (let i = 0; i < workers.length; i++) if (workers[i] !== refused && workers[i]!.canTake) free.push(workers[i]!);
    return free;
  }

  private readPeer(connection: Connection): void {
    const info = this.pickInfo;
    // Behind a proxy the client is the one its PROXY header names (unless it names none: LOCAL).
    const proxied = (connection as PendingConnection).proxied;
    if (proxied !== undefined && proxied.remoteAddress !== undefined) {
      info.remoteAddress = proxied.remoteAddress;
      info.remotePort = proxied.remotePort;
      info.family = proxied.family;
      return;
    }
    // The acceptor read the peer (`peer: true`, from accept() itself on the native transport).
    info.remoteAddress = connection.remoteAddress;
    info.remotePort = connection.remotePort;
    info.family = connection.family;
  }

  /** Hands `connection` to `worker`'s link; false when the link refused it (the connection is still ours). */
  private sendTo(worker: WorkerProcess, connection: Connection): boolean {
    if (!worker.sendConnection(connection)) return false;
    connection.attempts++;
    worker.countDispatched();
    if (channels.dispatch.hasSubscribers) channels.dispatch.publish({ id: connection.id, listener: connection.listener, worker: worker.id });
    return true;
  }

  /** The worker acknowledged connections (the transport closed the primary's copies): under oneInFlight or a full link, what waits may go now. */
  acknowledged(_worker: WorkerProcess, count: number): void {
    this.descriptors.released(count);
    if (this.queue.length > 0) this.flushQueue();
  }

  /**
   * The worker's link gave back connections it never took: `'not-received'`, a handle that did not
   * arrive (IPC's NODE_HANDLE_NACK); `'worker-exit'`, its link ended (it died, or could not read
   * its native link). Each goes elsewhere.
   */
  returnedByLink(worker: WorkerProcess, returned: readonly Connection[], reason: 'not-received' | 'worker-exit'): void {
    for (const connection of returned) {
      worker.uncountDispatched();
      this.redispatch(connection, worker, reason);
    }
  }

  /** The worker is gone: its link gives back what it had not acknowledged (see `closed`), if it has not yet. */
  workerGone(worker: WorkerProcess): void {
    worker.closeLink();
  }

  private redispatch(connection: Connection, from: WorkerProcess, reason: string): void {
    if (channels.redispatch.hasSubscribers) channels.redispatch.publish({ id: connection.id, from: from.id, reason });
    debug('re-dispatching connection %d from worker %d (%s)', connection.id, from.id, reason);
    if (this.closing) this.reject(connection, 'closing');
    else if (connection.attempts >= MAX_ATTEMPTS) this.reject(connection, 'attempts');
    else this.place(connection);
  }

  private enqueue(connection: Connection): void {
    if (!this.queue.push(connection)) this.reject(connection, 'queue-full');
  }

  /** Connections waiting for a ready worker. */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * A worker became ready or free: place what waits, oldest first, FIFO per listener (see
   * `WaitQueue.flush`).
   */
  flushQueue(): void {
    const outer = this.flushLeft;
    this.flushLeft = this.queue.length;
    try {
      this.queue.flush(this.tryPlaceBound, this.listeners.length);
    } finally {
      this.flushLeft = outer;
    }
  }

  private readonly tryPlaceBound = (connection: Connection): boolean => {
    if (!this.tryPlace(connection)) return false;
    this.flushLeft--;
    return true;
  };

  private reject(connection: Connection, reason: RejectReason): void {
    const listener = this.listeners[connection.listener];
    const socket = this.transport.toSocket(connection);
    socket.once('close', () => this.descriptors.released(1));
    // An idle keep-alive connection that moved is closed, not answered: it asked nothing.
    refuseConnection(socket, (connection as PendingConnection).reused === true ? 'tcp' : (listener?.option.protocol ?? 'http'));
    if (channels.rejected.hasSubscribers) channels.rejected.publish({ id: connection.id, listener: connection.listener, reason });
    this.host.onRejected(connection.id, connection.listener, reason);
  }

  /** Stops placing: what waits and what arrives from now on is answered 503. */
  close(): void {
    this.closing = true;
    this.descriptors.close();
    for (const connection of this.queue.takeAll()) this.reject(connection, 'closing');
  }
}
