import type { ChildProcess, StdioOptions } from 'node:child_process';
import type { AddressInfo, Server, Socket } from 'node:net';

/** A transport that carries connections from the primary to its workers. */
export type TransportName = 'native' | 'ipc';

/** What a user asks for: `auto` is `native` where the addon loads, else `ipc`. */
export type TransportChoice = 'auto' | TransportName;

/**
 * A connection the primary accepted and that no worker has acknowledged yet. The acceptor makes
 * it; the primary's dispatcher owns it from there (and may count `attempts`). Same shape on both
 * transports, so the dispatcher does not care which one runs.
 */
export interface Connection {
  /** Unique within the primary transport that accepted it, from 1. */
  readonly id: number;
  /** The listener's index, as given to `listen()`; the worker gets it with the socket. */
  readonly listener: number;
  /** `tcp` or `unix`: what kind of socket the worker builds around it. */
  readonly kind: 'tcp' | 'unix';
  /** Native transport: the connection's fd, owned by the primary until acknowledged. Else -1. */
  readonly fd: number;
  /** IPC transport: the connection's native handle (a TCPWrap or PipeWrap). Else undefined. */
  readonly handle: unknown;
  /** The peer, when the acceptor was asked for it (`peer: true`); from accept() itself on the native transport. */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly family: 'IPv4' | 'IPv6' | 'unix' | undefined;
  /** How many workers it was sent to; the transport never reads it, the dispatcher counts. */
  attempts: number;
  /**
   * Bytes that travel with the connection to the worker's `onSocket`, at most 64 KiB: what the
   * primary read first (a PROXY header and what followed it), in the caller's encoding. Set it
   * before `send`; the transport does not read it otherwise. Undefined: none.
   */
  payload: Uint8Array | undefined;
}

/** Options of {@link PrimaryTransport.listen}. */
export interface AcceptorOptions {
  /** The listener's index (0-65535), handed to the worker with each of its connections. */
  readonly listener: number;
  /** Fill each connection's `remoteAddress`, `remotePort`, `family` (ip-hash needs them). @default false */
  readonly peer?: boolean;
  /** A connection was accepted. Called once per connection, several per wake-up. */
  onConnection(connection: Connection): void;
  /** accept() failed for the listening socket (EMFILE, ...); it retries by itself. */
  onError?(error: NodeJS.ErrnoException): void;
}

/** Counters of an {@link Acceptor}. */
export interface AcceptorStats {
  readonly accepted: number;
  /** How many times the listening socket woke the primary (native: `accept4` loops run). */
  readonly wakeups: number;
  /** The most connections one wake-up took. */
  readonly mostPerWakeup: number;
}

/** Takes the connections of one listening server. */
export interface Acceptor {
  /** What `server.address()` said when the acceptor took the server over. */
  readonly address: AddressInfo | string;
  /** Stops accepting; connections wait in the kernel's backlog. */
  pause(): void;
  resume(): void;
  /** Stops accepting for good and closes the acceptor's copy of the listening socket. */
  close(): void;
  /** The descriptor it accepts on, while open: the listening socket, for an upgrade to hand over; undefined where Node's handle accepts. */
  readonly fd?: number | undefined;
  stats(): AcceptorStats;
}

/** What a {@link WorkerLink} tells its owner. Plain callbacks: called per batch, not per event. */
export interface LinkHooks {
  /**
   * The `count` oldest unacknowledged connections are the worker's now: the primary closed its
   * copies. (Native: once per ack, which covers every batch the worker read in one wake-up.) A
   * `count` of 0 says only that the link takes connections again (it went on over IPC).
   */
  onAcknowledged(count: number): void;
  /**
   * The worker did not get these, and they are the caller's again to place elsewhere, while the
   * link lives on: the worker's runtime said a handle did not arrive with its message (IPC's
   * NODE_HANDLE_NACK, after MSG_CTRUNC: Node does not send it again), or its native link ended
   * (the worker ran out of descriptors for a batch, could not open the link, or is dying; the link
   * asks it over IPC and goes on there if it answers). `reason` says which: `'not-received'` or
   * `'link-ended'`.
   */
  onReturned(returned: Connection[], reason: 'not-received' | 'link-ended'): void;
  /**
   * The link ended for good: the worker's end closed (it exited or was killed) or `close()` was
   * called. `returned` are the connections the worker never got, oldest first, now the caller's
   * again to place elsewhere or to refuse. Called once.
   */
  onClosed(returned: Connection[], error: string | undefined): void;
}

/** Counters of a {@link WorkerLink}. */
export interface LinkStats {
  readonly sent: number;
  readonly acknowledged: number;
  readonly unacknowledged: number;
  /** Native: sendmsg() calls that carried a batch, and the largest batch. IPC: one per connection. */
  readonly batches: number;
  readonly largestBatch: number;
  /** Acknowledgements read (native: one per worker wake-up; IPC: one per connection). */
  readonly acks: number;
}

/**
 * The primary's end of the transport to one worker, whichever carries its connections: the native
 * link while the worker reads it, Node's IPC channel otherwise (a worker without the addon, a
 * native link that ended while the worker lives, a payload over the native link's 64 KiB). Its
 * owner never asks which: `transport` is for diagnostics.
 */
export interface WorkerLink {
  /** Diagnostics only: what carries its connections now. */
  readonly transport: TransportName;
  /** Sent (or queued to send) and not yet acknowledged: what `inFlight` policies read. */
  readonly unacknowledged: number;
  /**
   * Of `unacknowledged`, those that did not join the batch this event-loop turn of the primary is
   * filling: what went to the worker in an earlier turn and that it has not taken yet (a worker
   * that keeps this at 0 takes each batch on its next wake-up). Native: connections queued in
   * this turn leave together in one message at its end (`flushDelayUs: 0`; with a delay, those of
   * earlier turns count here though they may not have left yet), unless a batch fills first
   * (`maxBatch`, 64 KiB of payloads): so they are not here, and one more queued now costs no
   * message and no acknowledgement of its own. IPC: every one of them, since each handle leaves in
   * a message of its own at once and Node acknowledges each; so it equals `unacknowledged`. The
   * dispatcher's `oneInFlight` rule reads it: a worker counts as free while this is 0.
   */
  readonly unacknowledgedBeforeThisTurn: number;
  /** The most connections it holds unacknowledged; `send` refuses past it. */
  readonly cap: number;
  /** `send` would take a connection now: open, carrying, and under its cap. */
  readonly canSend: boolean;
  readonly closed: boolean;
  /**
   * Hands the connection to the worker. False when the worker holds `cap` unacknowledged or the
   * link is closed: the connection is still the caller's (pick another worker, or wait for an
   * ack). True: the link holds it until the ack, or gives it back through `onReturned`/`onClosed`.
   */
  send(connection: Connection): boolean;
  /**
   * Sends any other message on the IPC channel (with a handle or not). A handle goes in line with
   * the connections' handles, so that Node's acknowledgements stay matched: every handle sent to
   * this worker must go through here. A closed channel drops it (the worker is going).
   */
  post(message: object, handle?: unknown): void;
  /**
   * Sends `message` on the IPC channel once the worker holds every connection sent so far (each
   * acknowledged or given back). The native link is a socket of its own beside the channel, so
   * nothing else orders a message after the batches still in it: a `drain` that overtook a batch
   * would let the worker finish draining and exit while connections it then took were still coming.
   */
  postAfterSent(message: object): void;
  /** Ends the link; what never left the primary comes back through `onClosed`. */
  close(): void;
  stats(): LinkStats;
}

/** Spawn options a {@link SpawnPlan} adds to (`fork()`'s). */
export interface SpawnOptionsLike {
  stdio?: StdioOptions;
  env?: NodeJS.ProcessEnv;
  silent?: boolean;
}

/** How one worker is forked so that a link can reach it. */
export interface SpawnPlan {
  /** `base` plus what the transport needs: native adds its socket to `stdio` and says where in `env`. */
  options<T extends SpawnOptionsLike>(base: T): T & { stdio: StdioOptions; env: NodeJS.ProcessEnv };
  /** After the fork: the link to that child. */
  attach(child: ChildProcess, hooks: LinkHooks): WorkerLink;
  /** The fork failed or was abandoned: releases what the plan holds. */
  cancel(): void;
}

/** The primary's side of a transport: accepts, and links to each worker. */
export interface PrimaryTransport {
  readonly name: TransportName;
  /** Set when `auto` fell back to `ipc`: why the native transport is not available. */
  readonly fallbackReason: string | undefined;
  /**
   * Takes over a listening server's connections. Native: accepts on a duplicate of its socket and
   * closes the server's own handle (the socket lives on in the duplicate), except for Unix-socket
   * servers, where Node accepts and the fd travels natively. IPC: replaces the handle's
   * `onconnection`, as node:cluster's round-robin does.
   */
  listen(server: Server, options: AcceptorOptions): Acceptor;
  /** Prepares one worker's fork; its `attach` gives the link to it, whatever carries its connections. */
  prepareSpawn(): SpawnPlan;
  /** Turns a connection the primary keeps (to answer 503 itself) into a `net.Socket` it owns. */
  toSocket(connection: Connection): Socket;
  /** Closes a connection that goes nowhere. */
  destroy(connection: Connection): void;
  /**
   * Makes a connection of a native handle (a TCPWrap or PipeWrap) that Node accepted or received
   * (a connection whose PROXY header the primary read through a `net.Socket`, one a worker gave
   * back): native, its fd is duplicated out of the handle and the handle closed; IPC, the handle
   * is the connection's. `peer: true` fills the peer from `getpeername`.
   */
  adopt(handle: unknown, listener: number, peer?: boolean): Connection;
}

/** Counters of a {@link WorkerIntake}. */
export interface IntakeStats {
  readonly received: number;
  /** Native: wake-ups that read batches, batches, acknowledgements sent. IPC: one each per connection. */
  readonly wakeups: number;
  readonly batches: number;
  readonly acks: number;
}

/** The worker's side: turns what arrives into sockets. */
export interface WorkerIntake {
  /** `native` when this worker reads a native link (its primary gave it one and the addon loaded). */
  readonly transport: TransportName;
  /** Set when the primary gave a native link but this worker could not use it. */
  readonly fallbackReason: string | undefined;
  /**
   * Wraps a handle that arrived with an IPC message (the worker's protocol handler calls it) and
   * hands it to `onSocket` with its `payload`, as a connection from the native link: the worker's
   * one way in, on both transports.
   */
  receive(handle: unknown, listener: number, payload?: Buffer): void;
  /** Stops reading the native link (the primary gets EOF and places what it had not delivered). */
  close(): void;
  stats(): IntakeStats;
}
