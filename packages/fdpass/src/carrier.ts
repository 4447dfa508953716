import type { Connection, LinkStats, TransportName } from './types.js';

/**
 * What a carrier tells the {@link WorkerLink} that owns it: the hooks of one way to a worker (the
 * native link, or Node's IPC channel), before the link hides which one runs.
 */
export interface CarrierHooks {
  /** The `count` oldest unacknowledged connections are the worker's now. */
  onAcknowledged(count: number): void;
  /** IPC: the worker's runtime said this connection's handle did not arrive (NODE_HANDLE_NACK). */
  onNotReceived(connection: Connection): void;
  /** The carrier ended; `returned` are what the worker never got, oldest first. Called once. */
  onClosed(returned: Connection[], error: string | undefined): void;
}

/** One way to a worker: `NativeLink` or `IpcLink`. Only the worker's link (`worker-link.ts`) holds them. */
export interface Carrier {
  readonly transport: TransportName;
  readonly unacknowledged: number;
  /** Of `unacknowledged`, those that left in an earlier turn (see `WorkerLink`). */
  readonly unacknowledgedBeforeThisTurn: number;
  readonly cap: number;
  readonly canSend: boolean;
  readonly closed: boolean;
  send(connection: Connection): boolean;
  close(): void;
  stats(): LinkStats;
}
