import { checkPayload, encodeTag } from './connection.js';
import { Fifo } from './fifo.js';
import type { NativeBinding, NativeSender } from './native.js';
import type { ChildProcess } from 'node:child_process';
import type { Carrier, CarrierHooks } from './carrier.js';
import type { Connection, LinkStats } from './types.js';

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
  private sent = 0;
  private acknowledged = 0;

  constructor(
    binding: NativeBinding,
    fd: number,
    child: ChildProcess,
    private readonly hooks: CarrierHooks,
    limits: NativeLinkLimits,
  ) {
    this.cap = limits.cap;
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

  get canSend(): boolean {
    return !this.closed && this.held.length < this.cap;
  }

  send(connection: Connection): boolean {
    if (this.closed || connection.fd < 0) return false;
    if (connection.payload !== undefined) checkPayload(connection);
    if (this.sender.queue(connection.fd, encodeTag(connection.listener, connection.kind), connection.payload) !== 1) return false;
    this.held.push(connection);
    this.sent++;
    return true;
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
    const all = this.held.takeAll();
    this.hooks.onClosed(all.slice(all.length - returned), error);
  }
}
