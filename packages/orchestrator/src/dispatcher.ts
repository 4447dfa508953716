// Longer than most modules: the per-connection path of mode primary (accept, pick, send, settle,
// re-dispatch) is kept in one file on purpose, so it can be read, and profiled, top to bottom.
import type { Server } from 'node:net';
import { PROTOCOL_CMD, PROTOCOL_VERSION, type ReturnMessage } from '@handoff/protocol';
import type { ConnectionInfo, PrimaryPolicy } from '@handoff/policies';
import type { BoundListener, NativeHandle } from './types.js';
import { channels, debug } from './diagnostics.js';
import { refuseConnection } from './refuse.js';
import { WaitQueue } from './wait-queue.js';
import { proxyProtocolOf } from './options.js';
import { ProxyIntake, type ProxiedPeer, type ProxyRefusal } from './proxy-intake.js';
import type { PendingConnection, WorkerProcess } from './worker-process.js';

/** Why the primary answered a connection itself. */
export type RejectReason = 'queue-full' | 'queue-timeout' | 'closing' | 'attempts';

/** What the dispatcher needs from the primary. */
export interface DispatcherHost {
  /** Workers that may be picked for a connection of `listener`: ready, not draining, ascending id. */
  readyWorkers(listener: number): readonly WorkerProcess[];
  onRejected(id: number, listener: number, reason: RejectReason): void;
  /** A connection closed for want of a valid PROXY header (a `proxyProtocol` listener). */
  onProxyRefused?(refusal: ProxyRefusal): void;
}

/** Limits of the wait for a ready worker. */
export interface QueueLimits {
  readonly maxPending: number;
  readonly queueTimeout: number;
}

/** A connection is tried on at most this many workers before the primary gives up on it (503). */
const MAX_ATTEMPTS = 8;

/** Options of every handle send: keep the primary's copy open until the worker accepts. */
const SEND_OPTIONS = Object.freeze({ keepOpen: true });

/**
 * The primary's accept path in mode `primary`: takes each connection's native handle straight from
 * the listening socket, asks the policy for a worker, and sends the handle with a `connection`
 * message. The primary's copy stays open until the worker's runtime acknowledges the handle
 * (Node's own `NODE_HANDLE_ACK`, which every handle send gets anyway), so a connection whose
 * worker dies or refuses first goes to another one; with no worker ready it waits in a bounded
 * queue, and past the limits it is answered 503. Nothing is dropped silently.
 */
export class Dispatcher {
  private nextId = 1;
  private readonly queue: WaitQueue<PendingConnection>;
  private closing = false;
  private readonly listeners: BoundListener[] = [];
  /** Reused for every pick (the policy must not keep it): one allocation less per connection. */
  private readonly pickInfo: { listener: number; remoteAddress: string | undefined; remotePort: number | undefined; family: ConnectionInfo['family'] } = {
    listener: 0,
    remoteAddress: undefined,
    remotePort: undefined,
    family: undefined,
  };
  private readonly peer: Record<string, unknown> = {};
  private readonly free: WorkerProcess[] = [];
  /** Reads the PROXY header of each connection of a `proxyProtocol` listener, before the pick. */
  private proxyIntake: ProxyIntake | undefined;

  constructor(
    private readonly policy: PrimaryPolicy,
    private readonly host: DispatcherHost,
    limits: QueueLimits,
  ) {
    this.queue = new WaitQueue<PendingConnection>(
      limits,
      (connection) => this.reject(connection, 'queue-timeout'),
      // What waited behind the expired ones (a connection the policy declined) may go now.
      () => this.flushQueue(),
    );
  }

  /**
   * Takes over a listening server's accepts. Like `node:cluster`'s round-robin handle
   * (lib/internal/cluster/round_robin_handle.js), it replaces the native handle's `onconnection`, so
   * the primary never builds a `net.Socket` for a connection it only passes on.
   */
  attach(listener: BoundListener): void {
    const server = listener.server as (Server & { _handle: NativeHandle | null }) | undefined;
    const handle = server?._handle;
    if (handle === null || handle === undefined) throw new Error('dispatcher: listener is not listening');
    this.listeners[listener.index] = listener;
    const index = listener.index;
    const proxy = proxyProtocolOf(listener.option);
    handle.onconnection = (status: number, client?: NativeHandle): void => {
      if (status < 0 || client === undefined) {
        debug('accept failed on listener %d: %d', index, status);
        return;
      }
      if (proxy === undefined) this.accept(index, client);
      else this.intake().read(index, client, proxy);
    };
  }

  private intake(): ProxyIntake {
    this.proxyIntake ??= new ProxyIntake({
      accepted: (listener, handle, peer) => this.accept(listener, handle, peer),
      refused: (refusal) => this.host.onProxyRefused?.(refusal),
    });
    return this.proxyIntake;
  }

  /** A new connection on listener `listener`. */
  accept(listener: number, handle: NativeHandle, proxied?: ProxiedPeer): void {
    const connection: PendingConnection = proxied === undefined ? { id: this.nextId++, listener, handle, attempts: 0 } : { id: this.nextId++, listener, handle, attempts: 0, proxied };
    if (this.closing) {
      this.reject(connection, 'closing');
      return;
    }
    this.place(connection);
  }

  /**
   * A connection a worker gave back (its app had closed the server by the time it arrived): placed
   * again like one the worker never received.
   */
  returned(from: WorkerProcess, message: ReturnMessage, handle: NativeHandle): void {
    const { listener, id, head } = message;
    const proxied: ProxiedPeer | undefined =
      message.proxy === undefined ? undefined : { header: message.proxy, head, remoteAddress: message.remoteAddress, remotePort: message.remotePort, family: message.family };
    const connection: PendingConnection =
      proxied !== undefined ? { id, listener, handle, attempts: 1, proxied } : head !== undefined ? { id, listener, handle, head, attempts: 1 } : { id, listener, handle, attempts: 1 };
    this.redispatch(connection, from, 'server-closed');
  }

  /** Sends `connection` to a worker the policy picks, or queues it. */
  private place(connection: PendingConnection): void {
    if (!this.tryPlace(connection)) this.enqueue(connection);
  }

  /**
   * Sends `connection` to a worker the policy picks; false when there is none to pick now (no ready
   * worker, every worker has one in flight under `oneInFlight`, or the policy declined).
   */
  private tryPlace(connection: PendingConnection): boolean {
    let workers = this.host.readyWorkers(connection.listener);
    if (this.policy.oneInFlight === true) workers = this.withNothingInFlight(workers);
    if (workers.length === 0) return false;
    const info = this.pickInfo;
    info.listener = connection.listener;
    if (this.policy.needsRemoteAddress === true) this.readPeer(connection);
    const worker = this.policy.pick(workers, info) as WorkerProcess | undefined;
    if (worker === undefined || worker.state !== 'ready') return false;
    this.sendTo(worker, connection);
    return true;
  }

  /** The workers that took every connection sent to them; reuses one array (pick must not keep it). */
  private withNothingInFlight(workers: readonly WorkerProcess[]): readonly WorkerProcess[] {
    const free = this.free;
    free.length = 0;
    for (let i = 0; i < workers.length; i++) if (workers[i]!.inFlight === 0) free.push(workers[i]!);
    return free;
  }

  private readPeer(connection: PendingConnection): void {
    const info = this.pickInfo;
    // Behind a proxy the client is the one its PROXY header names (unless it names none: LOCAL).
    const proxied = connection.proxied;
    if (proxied !== undefined && proxied.remoteAddress !== undefined) {
      info.remoteAddress = proxied.remoteAddress;
      info.remotePort = proxied.remotePort;
      info.family = proxied.family;
      return;
    }
    const out = this.peer;
    const err = connection.handle.getpeername?.(out) ?? -1;
    if (err === 0) {
      info.remoteAddress = out.address as string;
      info.remotePort = out.port as number;
      info.family = out.family as 'IPv4' | 'IPv6';
    } else {
      info.remoteAddress = undefined;
      info.remotePort = undefined;
      info.family = 'unix';
    }
  }

  private sendTo(worker: WorkerProcess, connection: PendingConnection): void {
    connection.attempts++;
    worker.countDispatched();
    // No callback: a failed write means the worker is going away, and its exit re-dispatches
    // everything still pending on it.
    // The peer's address rides along only when the policy already read it for its pick: no
    // getpeername() is paid for the message alone. (place() filled `info` for this connection.)
    const info = this.pickInfo;
    const message =
      this.policy.needsRemoteAddress === true
        ? { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: connection.listener, id: connection.id, remoteAddress: info.remoteAddress, remotePort: info.remotePort, family: info.family }
        : { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: connection.listener, id: connection.id };
    if (connection.head !== undefined) (message as { head?: string }).head = connection.head;
    const proxied = connection.proxied;
    if (proxied !== undefined) {
      // The header goes along for the worker to parse again (TLVs, the proxy's own address).
      (message as { proxy?: string }).proxy = proxied.header;
      if (proxied.head !== undefined) (message as { head?: string }).head = proxied.head;
    }
    worker.sendConnection(message, connection, SEND_OPTIONS);
    if (channels.dispatch.hasSubscribers) channels.dispatch.publish({ id: connection.id, listener: connection.listener, worker: worker.id });
  }

  /**
   * The worker's runtime received the connection's handle (or, `received` false, could not): close
   * the primary's copy, or place the connection again.
   */
  settled(worker: WorkerProcess, connection: PendingConnection, received: boolean): void {
    if (received) {
      connection.handle.close();
      // Under oneInFlight, the worker is free again: what waits for one goes now.
      if (this.queue.length > 0) this.flushQueue();
      return;
    }
    worker.uncountDispatched();
    this.redispatch(connection, worker, 'not-received');
  }

  /** The worker is gone: every connection it had not accepted goes elsewhere. */
  workerGone(worker: WorkerProcess): void {
    for (const connection of worker.takeUnreceived()) this.redispatch(connection, worker, 'worker-exit');
  }

  private redispatch(connection: PendingConnection, from: WorkerProcess, reason: string): void {
    if (channels.redispatch.hasSubscribers) channels.redispatch.publish({ id: connection.id, from: from.id, reason });
    debug('re-dispatching connection %d from worker %d (%s)', connection.id, from.id, reason);
    if (this.closing) this.reject(connection, 'closing');
    else if (connection.attempts >= MAX_ATTEMPTS) this.reject(connection, 'attempts');
    else this.place(connection);
  }

  private enqueue(connection: PendingConnection): void {
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
    this.queue.flush(this.tryPlaceBound, this.listeners.length);
  }

  private readonly tryPlaceBound = (connection: PendingConnection): boolean => this.tryPlace(connection);

  private reject(connection: PendingConnection, reason: RejectReason): void {
    const listener = this.listeners[connection.listener];
    refuseConnection(connection.handle, listener?.option.protocol ?? 'http');
    if (channels.rejected.hasSubscribers) channels.rejected.publish({ id: connection.id, listener: connection.listener, reason });
    this.host.onRejected(connection.id, connection.listener, reason);
  }

  /** Stops placing: what waits and what arrives from now on is answered 503. */
  close(): void {
    this.closing = true;
    for (const connection of this.queue.takeAll()) this.reject(connection, 'closing');
  }
}
