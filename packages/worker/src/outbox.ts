import type { ChannelEnd, WorkerMessage } from '@handoff/protocol';

/**
 * Every message the worker sends its primary goes out here, on the IPC channel: the handshake,
 * answers, `return`s with their handle, and the load reports the `Reporter` batches.
 */
export class Outbox {
  constructor(private readonly channel: ChannelEnd) {}

  /**
   * Sends a message now, with a handle for `return`. `done` runs once it is written (a handle waits
   * behind the one before it until the primary's runtime took that one), or could not be.
   */
  send(message: WorkerMessage, handle?: unknown, done?: () => void): void {
    if (this.channel.connected === false || this.channel.send === undefined) {
      done?.();
      return;
    }
    this.channel.send(message, handle, undefined, done === undefined ? ignoreError : () => done());
  }
}

/** A failed send means the primary is gone: its 'disconnect' handler takes it from there. */
function ignoreError(): void {}
