import type { ChildProcess } from 'node:child_process';
import type { Carrier, CarrierHooks } from './carrier.js';
import { MAX_PAYLOAD_BYTES } from './connection.js';
import { debug } from './diagnostics.js';
import type { IpcLink } from './ipc-link.js';
import type { NativeLink } from './native-link.js';
import type { Connection, LinkHooks, LinkStats, TransportName, WorkerLink } from './types.js';

/**
 * Asks a worker whose native link ended whether it lives (`NODE_`-prefixed: Node routes both to
 * 'internalMessage', away from the app and from handoff's own protocol). The worker's intake answers.
 */
export const PROBE_CMD = 'NODE_HANDOFF_FDPASS_PROBE';
/** The worker's answer to {@link PROBE_CMD}: it lives and takes connections over IPC. */
export const PROBE_ANSWER_CMD = 'NODE_HANDOFF_FDPASS_PROBE_ANSWER';

/** How the link makes its carriers: the native one where the transport has one, the IPC one on demand. */
export interface CarrierFactory {
  native?(hooks: CarrierHooks): NativeLink;
  ipc(hooks: CarrierHooks): IpcLink;
}

/**
 * The primary's link to one worker (see {@link WorkerLink}): the native link while the worker reads
 * it, and the IPC channel beside it or after it.
 *
 * - A payload over the native link's 64 KiB, and every handle of another message, go on the IPC
 *   carrier (made on first use), so Node's acknowledgements of handles stay matched.
 * - When the native link ends while the worker seems to live (it could not open it: no addon there;
 *   it ran out of descriptors for a batch; or it is dying), what it never took is given back
 *   (`onReturned`) and the worker is asked over IPC whether it lives. A SIGKILLed worker's link ends
 *   before its exit is seen (the kernel closes its fds first), and connections sent to it over IPC
 *   would only come back when its channel closes: so it goes on over IPC only once it answers.
 * - The link ends (`onClosed`) once the channel is gone or `close()` was called, and every carrier
 *   has given back what it held.
 */
export class ChannelLink implements WorkerLink {
  closed = false;
  private native: NativeLink | undefined;
  private ipc: IpcLink | undefined;
  /** The carrier connections go on: the native one until it ends, then the IPC one once the worker answered. */
  private current: Carrier | undefined;
  private probing = false;
  private closing = false;
  private readonly waiting: object[] = [];
  private readonly returned: Connection[] = [];
  private endError: string | undefined;
  private readonly onProbeAnswer = (message: { cmd?: unknown } | null): void => {
    if (message?.cmd === PROBE_ANSWER_CMD) this.answered();
  };

  constructor(
    private readonly child: ChildProcess,
    private readonly hooks: LinkHooks,
    readonly cap: number,
    private readonly carriers: CarrierFactory,
  ) {
    if (carriers.native !== undefined) {
      const native = carriers.native(this.hooksOf(() => this.native));
      this.native = native;
      this.current = native;
    } else {
      this.current = this.ipcCarrier();
    }
    // A worker that dies while it is asked never answers; nothing else would end the link then.
    child.once('exit', () => {
      if (this.probing) this.stopProbing();
      this.maybeEnd();
    });
  }

  get transport(): TransportName {
    return this.current === this.native && this.native !== undefined ? 'native' : 'ipc';
  }

  get unacknowledged(): number {
    return (this.native?.unacknowledged ?? 0) + (this.ipc?.unacknowledged ?? 0);
  }

  get unacknowledgedBeforeThisTurn(): number {
    return (this.native?.unacknowledgedBeforeThisTurn ?? 0) + (this.ipc?.unacknowledged ?? 0);
  }

  get canSend(): boolean {
    return !this.closed && this.current !== undefined && this.current.canSend;
  }

  send(connection: Connection): boolean {
    const current = this.current;
    if (this.closed || current === undefined) return false;
    const payload = connection.payload;
    if (current === this.native && payload !== undefined && payload.byteLength > MAX_PAYLOAD_BYTES) {
      // Over the native link's limit: this one crosses on the channel, in its protocol message.
      return this.ipcCarrier().send(connection);
    }
    return current.send(connection);
  }

  post(message: object, handle?: unknown): void {
    if (this.closed || !this.child.connected) return;
    if (handle !== undefined && handle !== null) {
      this.ipcCarrier().post(message, handle);
      return;
    }
    this.child.send(message as never, undefined, undefined, ignore);
  }

  postAfterSent(message: object): void {
    this.waiting.push(message);
    this.postWaiting();
  }

  close(): void {
    if (this.closed) return;
    this.closing = true;
    this.stopProbing();
    if (this.native !== undefined && !this.native.closed) this.native.close();
    if (this.ipc !== undefined && !this.ipc.closed) this.ipc.close();
    this.maybeEnd();
  }

  stats(): LinkStats {
    const n = this.native?.stats();
    const i = this.ipc?.stats();
    return {
      sent: (n?.sent ?? 0) + (i?.sent ?? 0),
      acknowledged: (n?.acknowledged ?? 0) + (i?.acknowledged ?? 0),
      unacknowledged: this.unacknowledged,
      batches: (n?.batches ?? 0) + (i?.batches ?? 0),
      largestBatch: Math.max(n?.largestBatch ?? 0, i?.largestBatch ?? 0),
      acks: (n?.acks ?? 0) + (i?.acks ?? 0),
    };
  }

  private ipcCarrier(): IpcLink {
    this.ipc ??= this.carriers.ipc(this.hooksOf(() => this.ipc));
    return this.ipc;
  }

  /** The hooks of one carrier (`which` reads it back, as it is made after its hooks). */
  private hooksOf(which: () => Carrier | undefined): CarrierHooks {
    return {
      onAcknowledged: (count) => {
        this.hooks.onAcknowledged(count);
        this.postWaiting();
      },
      onNotReceived: (connection) => this.hooks.onReturned([connection], 'not-received'),
      onClosed: (returned, error) => this.carrierEnded(which(), returned, error),
    };
  }

  private carrierEnded(carrier: Carrier | undefined, returned: Connection[], error: string | undefined): void {
    this.endError ??= error;
    const revive = carrier === this.native && !this.closing && this.workerMayLive() && (this.ipc === undefined || !this.ipc.closed);
    if (revive) {
      // The worker may live: what it never took goes elsewhere now, and it is asked.
      if (returned.length > 0) this.hooks.onReturned(returned, 'link-ended');
      if (this.current === this.native) this.current = undefined;
      this.startProbing();
    } else {
      this.returned.push(...returned);
      // The channel is gone (or the link closes): the worker is, too; the native carrier ends by itself.
      if (carrier === this.ipc && this.native !== undefined && !this.native.closed) this.native.close();
    }
    this.maybeEnd();
    this.postWaiting();
  }

  private workerMayLive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.connected;
  }

  private startProbing(): void {
    if (this.probing) return;
    this.probing = true;
    this.child.on('internalMessage', this.onProbeAnswer);
    this.child.send({ cmd: PROBE_CMD } as never, undefined, undefined, ignore);
  }

  private stopProbing(): void {
    if (!this.probing) return;
    this.probing = false;
    this.child.off('internalMessage', this.onProbeAnswer);
  }

  /** The worker answered: it lives, and its connections go over IPC from now on. */
  private answered(): void {
    this.stopProbing();
    if (this.closed || this.closing) return;
    debug('fdpass: worker %d goes on over IPC', this.child.pid);
    this.current = this.ipcCarrier();
    // Connections that waited while it had no carrier may go to it now.
    this.hooks.onAcknowledged(0);
  }

  /** Ends the link once nothing can carry connections any more and every carrier gave back what it held. */
  private maybeEnd(): void {
    if (this.closed || this.probing) return;
    const nativeOpen = this.native !== undefined && !this.native.closed;
    const ipcOpen = this.ipc !== undefined && !this.ipc.closed;
    if (nativeOpen || ipcOpen) return;
    // A native link that ended while the worker lived waits for its answer (or its exit).
    if (!this.closing && this.current === undefined && this.workerMayLive()) return;
    this.closed = true;
    this.current = undefined;
    const returned = this.returned.splice(0);
    this.hooks.onClosed(returned, this.endError);
  }

  /** Posts what waits for the connections sent before it, once the worker holds them all (or the link is gone). */
  private postWaiting(): void {
    if (this.waiting.length === 0) return;
    if (this.unacknowledged > 0 && !this.closed) return;
    for (const message of this.waiting.splice(0)) this.post(message);
  }
}

function ignore(): void {}
