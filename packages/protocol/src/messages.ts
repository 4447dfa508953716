// Longer than most modules: every message of the protocol, one interface each with its doc; the
// spec in one place (PROTOCOL.md says the same in prose).
import type { PROTOCOL_CMD } from './constants.js';

/** Fields every handoff message carries: the protocol's tag and version. */
export interface Envelope {
  /** Always {@link PROTOCOL_CMD}: routes the message to Node's internal channel, away from user code. */
  readonly cmd: typeof PROTOCOL_CMD;
  /** The sender's protocol version. */
  readonly v: number;
}

/** Where a listener is bound: a TCP address or a Unix socket path. */
export type ListenAddress =
  | { readonly port: number; readonly host?: string; readonly ipv6Only?: boolean }
  | { readonly path: string };

/** How the worker receives a listener's connections. */
export type ListenMode = 'primary' | 'shared' | 'reuseport';

// ---- worker -> primary -------------------------------------------------------------------------

/** A worker's first message: who it is and what it can do. */
export interface HelloMessage extends Envelope {
  readonly type: 'hello';
  readonly pid: number;
  /** Optional features this worker supports, e.g. `'head'`, `'drain'`. */
  readonly capabilities: readonly string[];
}

/** The worker serves: it may now be picked for connections. */
export interface ReadyMessage extends Envelope {
  readonly type: 'ready';
}

/** A worker's load since its last report. Sent on an interval and on change. */
export interface LoadMessage extends Envelope {
  readonly type: 'load';
  /** Connections open now. */
  readonly open: number;
  /** Connections closed since the previous report. */
  readonly closed: number;
  /** Requests (or, for non-HTTP servers, connections) served since the worker started. */
  readonly requests: number;
  /** Event-loop delay, p99 over the interval, in milliseconds. */
  readonly eventLoopDelay: number;
  /** Event-loop delay, p50 over the interval, in milliseconds (absent from workers that predate it). */
  readonly eventLoopDelayP50?: number;
  /** Resident set size in bytes. */
  readonly rss: number;
  /** V8 heap used in bytes. */
  readonly heapUsed: number;
  /**
   * Balanced shared mode: true when the worker has reached its limit of open connections and closed
   * its copies of the listening sockets; it waits to be re-armed with `listen`.
   */
  readonly paused?: boolean;
  /**
   * Kernel modes, a `proxyProtocol` listener: connections the worker closed for want of a valid
   * PROXY header since the previous report, by error code (`HANDOFF_ERR_PROXY_TIMEOUT`, …), so the
   * primary counts them as it counts its own in mode primary. Absent when there were none.
   */
  readonly proxyRefused?: Readonly<Record<string, number>>;
}

/** Answer to a {@link PingMessage}. */
export interface PongMessage extends Envelope {
  readonly type: 'pong';
  readonly seq: number;
}

/** Something went wrong inside the worker's adapter; the worker goes on. */
export interface ErrorMessage extends Envelope {
  readonly type: 'error';
  readonly code: string;
  readonly message: string;
}

/** A worker's progress through a drain: `'started'`, then `'idle'` when no connection is left. */
export interface DrainingMessage extends Envelope {
  readonly type: 'draining';
  readonly phase: 'started' | 'idle';
  /** Connections still open. */
  readonly open: number;
}

/**
 * Drop-in mode: the app inside the worker called `server.listen(address)`. The primary binds the
 * address itself (or reuses its listener for the same address) and answers with a `listen` message
 * carrying the same `request`, or with a `bind-error`.
 */
export interface BindMessage extends Envelope {
  readonly type: 'bind';
  /** Chosen by the worker, unique among its requests; echoed in the answer. */
  readonly request: number;
  readonly address: ListenAddress;
  readonly backlog?: number;
  /**
   * How many times this worker's app had already asked for this address among its open servers (as
   * `node:cluster`'s workers count them): the n-th `listen(0)` of every worker shares one listener,
   * distinct from the (n+1)-th, and two servers on one port in one worker meet `EADDRINUSE` as alone.
   * @default 0
   */
  readonly index?: number;
  /** `listen({ exclusive: true })`: a listener for this worker alone, shared with no other worker. */
  readonly exclusive?: boolean;
  /** `listen({ ipv6Only: true })`: an IPv6 listener that takes no IPv4 connection. */
  readonly ipv6Only?: boolean;
}

/**
 * The app closed the server that takes this listener's connections (`server.close()`): the primary
 * sends this worker none of them from now on. In `serve()` mode a worker left with no listener is
 * replaced (unless the primary is closing) and drains; in drop-in mode it lives on, as a Node process
 * whose last server closed does (it exits once it has nothing left to do), and may listen again. A
 * listener that no worker's app holds any more is closed: its port is free again.
 */
export interface UnlistenMessage extends Envelope {
  readonly type: 'unlisten';
  readonly listener: number;
}

/**
 * Drop-in mode: the answer to each `unlisten`, in order: the primary has let go of the listener
 * (closed it when no worker holds it any more). The app's server emits `'close'` only then, so a
 * port its `close()` released is free by the time the app hears it closed, as alone.
 */
export interface UnlistenedMessage extends Envelope {
  readonly type: 'unlistened';
  readonly listener: number;
}

/**
 * A connection that reached the worker after the app closed its server: its handle comes back, and
 * the primary places it on another worker (or queues or refuses it), as for one never received.
 */
export interface ReturnMessage extends Envelope {
  readonly type: 'return';
  readonly listener: number;
  /** The `id` of the `connection` message it came with. */
  readonly id: number;
  /** What came with it (base64 of its payload: PROXY header, bytes read first), passed back as it came. */
  readonly payload?: string;
  /**
   * Why it came back: `'moved'`, a drain gave back a connection that was between requests (nothing
   * of it read, or an HTTP/1 keep-alive connection idle after a response), to be served by another
   * worker as if just accepted; absent, its server had closed before it arrived.
   */
  readonly reason?: 'moved';
  /** A moved connection that already carried requests (keep-alive): past the wait's bounds it is closed, not answered 503. */
  readonly reused?: boolean;
}

/**
 * Answer to a {@link MetricsRequestMessage} of the same `seq`: the app's own metrics as its registry
 * lists them, or why there are none. Neither field: the app exposes no registry.
 */
export interface MetricsMessage extends Envelope {
  readonly type: 'metrics';
  readonly seq: number;
  /** The app's metrics, JSON of what prom-client's `registry.getMetricsAsJSON()` returns (≤ `MAX_METRICS_CHARS`). */
  readonly data?: string;
  /** Why the app's registry could not list them: it threw, or the list was too large. */
  readonly error?: string;
}

// ---- primary -> worker -------------------------------------------------------------------------

/**
 * Attach to a listener. In mode `shared` the listening server handle comes with it; in mode
 * `primary` no handle comes and connections follow one by one; in mode `reuseport` the worker
 * binds `address` itself with `reusePort`.
 */
export interface ListenMessage extends Envelope {
  readonly type: 'listen';
  readonly listener: number;
  /** How many listeners the primary has: the worker is attached once it has seen them all. */
  readonly listeners: number;
  readonly mode: ListenMode;
  readonly address: ListenAddress;
  readonly backlog?: number;
  /** Present when this `listen` answers the worker's `bind` request of the same number. */
  readonly request?: number;
  /**
   * Balanced shared mode: the worker's limit of open connections; reaching it, the worker closes
   * its copy of the listening socket and reports `paused`. A `listen` for a listener the worker
   * already knows re-arms it.
   */
  readonly limit?: number;
  /**
   * The listener expects a PROXY protocol header on each connection. In the kernel modes the
   * worker reads it before `'connection'` (in mode `primary` the primary does, and sends `proxy`
   * with each `connection`).
   */
  readonly proxy?: ListenProxy;
}

/** How a worker reads PROXY protocol headers on a listener (see `@handoff/proxy-protocol`). */
export interface ListenProxy {
  /** A connection without a complete header by then is closed, in ms (1..2147483647). */
  readonly timeout: number;
  /** Largest header accepted, in bytes (107..`MAX_HEAD_BYTES`). */
  readonly maxHeaderBytes: number;
  /** CIDR blocks a header may come from (at most 1024, each ≤ 64 chars); absent: any peer. */
  readonly trusted?: readonly string[];
}

/** Balanced shared mode: a new, lower limit of open connections for a worker that is armed. */
export interface LimitMessage extends Envelope {
  readonly type: 'limit';
  readonly open: number;
}

/** The primary could not bind what a worker's `bind` asked for. */
export interface BindErrorMessage extends Envelope {
  readonly type: 'bind-error';
  readonly request: number;
  /** The errno-style code, e.g. `EADDRINUSE`, or a handoff error code. */
  readonly code: string;
  readonly message: string;
}

/**
 * One accepted connection; its socket handle travels with the message. The worker's Node runtime
 * acknowledges the handle (`NODE_HANDLE_ACK`): that acknowledgement, not a handoff message, tells
 * the primary it may close its copy.
 */
export interface ConnectionMessage extends Envelope {
  readonly type: 'connection';
  readonly listener: number;
  /** Unique per primary: names the connection in the primary's dispatch and re-dispatch events. */
  readonly id: number;
  /**
   * What the primary read of it first, for the worker to put back (base64 of the bytes
   * `encodeConnectionPayload` makes: the PROXY header of a `proxyProtocol` listener and the bytes
   * read after it); the same bytes the native transport carries with the fd. Absent: nothing read.
   */
  readonly payload?: string;
}

/** Heartbeat: the worker answers with a {@link PongMessage} of the same `seq`. */
export interface PingMessage extends Envelope {
  readonly type: 'ping';
  readonly seq: number;
}

/** Stop taking connections, finish what is in flight, close idle sockets, then exit by `timeout` ms. */
export interface DrainMessage extends Envelope {
  readonly type: 'drain';
  readonly timeout: number;
  /**
   * Give back every connection that is between requests (`return` with reason `'moved'`) instead
   * of closing it: another worker serves it. False or absent: drain them in place (the primary is
   * closing, or moves are turned off).
   */
  readonly move?: boolean;
}

/** Exit now (after closing what can be closed quickly). */
export interface ShutdownMessage extends Envelope {
  readonly type: 'shutdown';
}

/** Asks a worker for its app's own metrics (a scrape of the primary's `/metrics`); it answers `metrics` with the same `seq`. */
export interface MetricsRequestMessage extends Envelope {
  readonly type: 'metrics-request';
  readonly seq: number;
}

/** Every message a worker sends to the primary. */
export type WorkerMessage =
  | HelloMessage
  | ReadyMessage
  | LoadMessage
  | PongMessage
  | ErrorMessage
  | DrainingMessage
  | BindMessage
  | UnlistenMessage
  | ReturnMessage
  | MetricsMessage;

/** Every message the primary sends to a worker. */
export type PrimaryMessage = ListenMessage | BindErrorMessage | UnlistenedMessage | LimitMessage | ConnectionMessage | PingMessage | DrainMessage | ShutdownMessage | MetricsRequestMessage;

/** Every handoff message, discriminated by `type`. */
export type HandoffMessage = WorkerMessage | PrimaryMessage;

/** The `type` of every handoff message. */
export type HandoffMessageType = HandoffMessage['type'];

/** A message of the given type. */
export type MessageOf<T extends HandoffMessageType> = Extract<HandoffMessage, { type: T }>;

/** The fields of a message of type `T` that its sender fills in (all but the envelope). */
export type BodyOf<T extends HandoffMessageType> = Omit<MessageOf<T>, 'cmd' | 'v'>;

/** Message types that a worker sends. */
export const WORKER_MESSAGE_TYPES = ['hello', 'ready', 'load', 'pong', 'error', 'draining', 'bind', 'unlisten', 'return', 'metrics'] as const;

/** Message types that the primary sends. */
export const PRIMARY_MESSAGE_TYPES = ['listen', 'bind-error', 'unlistened', 'limit', 'connection', 'ping', 'drain', 'shutdown', 'metrics-request'] as const;
