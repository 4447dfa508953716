import { checkPayload, encodeTag, MAX_PAYLOAD_BYTES } from './connection.js';
import { Fifo } from './fifo.js';
import type { NativeBinding, NativeSender } from './native.js';
import type { ChildProcess } from 'node:child_process';
import type { Carrier, CarrierHooks } from './carrier.js';
import type { Connection, LinkStats } from './types.js';
import { currentTurn, usedThisTurn } from './turn.js';

/** Batching and the cap, as the primary transport resolved them. */
export interface NativeLinkLimits {
  readonly cap: number;
  readonly maxBatch: number;
  readonly flushDelayUs: number;
}

/**
 * The primary's native link to one worker: the addon's Sender (native/sender.c) and, in the same
 * order, the connections it holds. The addon reports counts (this many acknowledged, this many
 * given back); the FIFO turns them into connections. Nothing per connection crosses into JS on
 * the way back but the FIFO's slot.
 */
export class NativeLink implements Carrier {
  readonly transport = 'native' as const;
  readonly cap: number;
  closed = false;
  private readonly held: Fifo<Connection>;
  private readonly sender: NativeSender;
  private readonly maxBatch: number;
  private sent = 0;
  private acknowledged = 0;
  /**
   * The newest `openCount` of `held` were queued in turn `openTurn` and still wait in the addon's
   * open batch, with `openBytes` of payload (it leaves whole at the turn's end; sooner once it
   * holds `maxBatch`, or when a payload would take it over 64 KiB): the JS mirror of that batch,
   * so that asking costs no call into the addon.
   */
  private openTurn = 0;
  private openCount = 0;
  private openBytes = 0;

  constructor(
    binding: NativeBinding,
    fd: number,
    child: ChildProcess,
    private readonly hooks: CarrierHooks,
    limits: NativeLinkLimits,
  ) {
    this.cap = limits.cap;
    this.maxBatch = limits.maxBatch;
    this.held = new Fifo<Connection>(Math.min(limits.cap, 1024));
    this.sender = new binding.Sender(
      fd,
      (released) => this.onAck(released),
      (returned, error) => this.onEnd(returned, error),
      limits.maxBatch,
      limits.cap,
      limits.flushDelayUs,
    );
    // The worker's death is EOF on its end, unless a process it spawned before its intake made the
    // end close-on-exec still holds it: then the exit says it. Its last acks are read first.
    child.once('exit', () => {
      if (!this.closed) this.sender.abandon();
    });
  }

  get unacknowledged(): number {
    return this.held.length;
  }

  /** Of `unacknowledged`, those not in the batch this turn is still filling: they left in an earlier one. */
  get unacknowledgedBeforeThisTurn(): number {
    const length = this.held.length;
    if (this.openTurn !== currentTurn()) return length;
    return length > this.openCount ? length - this.openCount : 0;
  }

  get canSend(): boolean {
    return !this.closed && this.held.length < this.cap;
  }

  send(connection: Connection): boolean {
    if (this.closed || connection.fd < 0) return false;
    if (connection.payload !== undefined) checkPayload(connection);
    if (this.sender.queue(connection.fd, encodeTag(connection.listener, connection.kind), connection.payload) !== 1) return false;
    this.held.push(connection);
    this.sent++;
    this.mirrorQueued(connection.payload?.byteLength ?? 0);
    return true;
  }

  /** Mirrors what `queue` did to the addon's open batch (native/sender.c, `fp_sender_queue`). */
  private mirrorQueued(bytes: number): void {
    const turn = usedThisTurn();
    if (this.openTurn !== turn) {
      this.openTurn = turn;
      this.openCount = 0;
      this.openBytes = 0;
    }
    // A payload that did not fit went first: the batch before it was sealed and written.
    if (this.openCount > 0 && bytes > 0 && this.openBytes + bytes > MAX_PAYLOAD_BYTES) {
      this.openCount = 0;
      this.openBytes = 0;
    }
    this.openBytes += bytes;
    // A batch that reached maxBatch was sealed and written at once: the next one opens.
    if (++this.openCount >= this.maxBatch) {
      this.openCount = 0;
      this.openBytes = 0;
    }
  }

  close(): void {
    if (!this.closed) this.sender.close();
  }

  stats(): LinkStats {
    const s = this.sender.stats();
    return { sent: this.sent, acknowledged: this.acknowledged, unacknowledged: this.held.length, batches: s.batches, largestBatch: s.largestBatch, acks: s.acks };
  }

  private onAck(released: number): void {
    this.held.drop(released);
    this.acknowledged += released;
    this.hooks.onAcknowledged(released);
  }

  /** The addon ended the link and gives back the `returned` newest connections; the older ones stay the worker's. */
  private onEnd(returned: number, error: string | undefined): void {
    this.closed = true;
    this.openCount = 0;
    const all = this.held.takeAll();
    this.hooks.onClosed(all.slice(all.length - returned), error);
  }
}
