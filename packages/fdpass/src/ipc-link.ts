import type { ChildProcess } from 'node:child_process';
import { Fifo } from './fifo.js';
import type { Carrier, CarrierHooks } from './carrier.js';
import type { Connection, LinkStats } from './types.js';

/** What Node calls a handle on the channel: close() is all the link needs. */
interface Closable {
  close(): void;
}

/** After a worker's exit, how long the link waits for Node to read its channel to EOF: 50 x 20 ms. */
const EXIT_EOF_TRIES = 50;
const EXIT_EOF_INTERVAL_MS = 20;

/** Options of every connection send: the primary keeps its copy until the worker's runtime acknowledges it. */
const KEEP_OPEN = Object.freeze({ keepOpen: true });

/** Builds the IPC message that carries a connection's handle. */
export type IpcMessageBuilder = (connection: Connection) => object;

/**
 * The primary's IPC link to one worker: Node's child_process channel. Node passes one handle per
 * round trip and the receiving runtime answers each with its internal NODE_HANDLE_ACK, or
 * NODE_HANDLE_NACK when the handle did not come with the message (MSG_CTRUNC), in order, so the
 * next answer is always for the oldest handle in flight. For a raw handle sent with `keepOpen`, as
 * here, Node neither resends nor closes it on a NACK (it retransmits only `net.Socket`s it was
 * asked to close, lib/internal/child_process.js `postSend`): the connection is the caller's
 * again (`onNotReceived`). Every handle on the channel must go through this link (`send` or
 * `post`) to keep that matching true.
 *
 * A connection accepted natively has an fd and no handle: `toHandle` wraps a duplicate of the fd
 * in one, so that the connection keeps its own fd if it comes back; `closeFd` closes that fd once
 * the worker has the connection.
 */
export class IpcLink implements Carrier {
  readonly transport = 'ipc' as const;
  closed = false;
  /** Connections (null for another handle) in the order their handles went. */
  private readonly inFlight = new Fifo<Connection | null>();
  /** The handle sent for each entry of `inFlight`, where it is not the connection's own. */
  private readonly made = new Map<Connection, Closable>();
  private count = 0;
  private sent = 0;
  private acknowledged = 0;
  private acks = 0;
  private readonly onInternal = (message: { cmd?: unknown } | null): void => this.onInternalMessage(message);

  constructor(
    private readonly child: ChildProcess,
    private readonly hooks: CarrierHooks,
    readonly cap: number,
    private readonly message: IpcMessageBuilder,
    private readonly toHandle: (connection: Connection) => Closable,
    private readonly closeFd: (fd: number) => void,
  ) {
    child.on('internalMessage', this.onInternal);
    // Node reads the channel to EOF before 'disconnect': an ack still in the pipe is seen first.
    child.once('disconnect', () => this.end(undefined));
    // ...but while a handle awaits its ack, Node defers 'disconnect' until the queue drains, which
    // it never does for a dead worker (lib/internal/child_process.js, target.disconnect). So the
    // exit ends the link too, once Node has read the channel to EOF (it then drops `channel`).
    child.once('exit', () => this.afterExit(0));
    if (!child.connected) queueMicrotask(() => this.end('ENOTCONN'));
  }

  private afterExit(tries: number): void {
    if (this.closed) return;
    if ((this.child as ChildProcess & { channel?: unknown }).channel == null) this.end(undefined);
    else if (tries < EXIT_EOF_TRIES) setTimeout(() => this.afterExit(tries + 1), EXIT_EOF_INTERVAL_MS).unref();
    else this.end('ETIMEDOUT');
  }

  get unacknowledged(): number {
    return this.count;
  }

  /** All of them: each handle leaves in its own message at once and costs its own acknowledgement. */
  get unacknowledgedBeforeThisTurn(): number {
    return this.count;
  }

  get canSend(): boolean {
    return !this.closed && this.count < this.cap && this.child.connected;
  }

  send(connection: Connection): boolean {
    // No payload limit of its own: the protocol's decoder bounds the message at the worker.
    if (this.closed || this.count >= this.cap || !this.child.connected) return false;
    let handle = connection.handle as Closable | undefined;
    if (handle === undefined) {
      handle = this.toHandle(connection);
      this.made.set(connection, handle);
    }
    this.inFlight.push(connection);
    this.count++;
    this.sent++;
    // No callback: a failed write means the worker is going; 'disconnect' gives the connection back.
    this.child.send(this.message(connection) as never, handle as never, KEEP_OPEN);
    return true;
  }

  post(message: object, handle?: unknown): void {
    if (this.closed || !this.child.connected) return;
    if (handle !== undefined && handle !== null) this.inFlight.push(null);
    this.child.send(message as never, handle as never, undefined, ignore);
  }

  /**
   * Stops the link and gives back every connection not acknowledged. Node may already have
   * written some of them to the channel, so call it once the worker is gone (its 'disconnect'
   * does it anyway); the native link can tell, and keeps what it wrote.
   */
  close(): void {
    this.end(undefined);
  }

  stats(): LinkStats {
    return { sent: this.sent, acknowledged: this.acknowledged, unacknowledged: this.count, batches: this.sent, largestBatch: this.sent > 0 ? 1 : 0, acks: this.acks };
  }

  private onInternalMessage(message: { cmd?: unknown } | null): void {
    const cmd = message?.cmd;
    if (cmd !== 'NODE_HANDLE_ACK' && cmd !== 'NODE_HANDLE_NACK') return;
    this.acks++;
    const connection = this.inFlight.shift();
    if (connection === undefined || connection === null) return;
    this.count--;
    const made = this.made.get(connection);
    if (made !== undefined) this.made.delete(connection);
    if (cmd === 'NODE_HANDLE_NACK') {
      // Not received: the primary's copy is intact (and a duplicate of ours goes).
      made?.close();
      this.hooks.onNotReceived(connection);
      return;
    }
    (made ?? (connection.handle as Closable)).close();
    if (made !== undefined) this.closeFd(connection.fd);
    this.acknowledged++;
    this.hooks.onAcknowledged(1);
  }

  private end(error: string | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.child.off('internalMessage', this.onInternal);
    const returned: Connection[] = [];
    for (const c of this.inFlight.takeAll()) {
      if (c === null) continue;
      // The duplicate went nowhere; the connection keeps its own fd.
      this.made.get(c)?.close();
      returned.push(c);
    }
    this.made.clear();
    this.count = 0;
    this.hooks.onClosed(returned, error);
  }
}

function ignore(): void {}
