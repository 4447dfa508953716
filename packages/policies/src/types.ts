/**
 * The contract between the orchestrator and a load-distribution policy. Pure data: a policy never
 * touches sockets, processes, timers or the clock.
 */

/** A read-only view of one ready worker, as a policy sees it. */
export interface WorkerView {
  /** Stable id, unique for the primary's lifetime; a replacement worker gets a new one. Ascending in `workers`. */
  readonly id: number;
  /**
   * The worker's place in the pool, `0..workers-1`: a replacement (after a crash or a reload) takes
   * the slot of the worker it replaces. Key anything that must survive a replacement (a weight, a
   * place on a hash ring) by slot, not by id.
   */
  readonly slot: number;
  /** Relative capacity (default 1), from the `weights` option or the policy's own. */
  readonly weight: number;
  /** Connections open on this worker, as the primary knows it (dispatched minus reported closed). */
  readonly connections: number;
  /**
   * Connections sent to this worker that its runtime has not taken yet (mode `primary`; 0 in the
   * kernel modes). A responsive worker takes what was sent on its next event-loop turn, so it holds
   * few here (0 or 1 on the IPC transport, one handle at a time; under `oneInFlight`, the batch of
   * the primary's current turn on the native one), and a worker busy running code (a CPU-heavy
   * request, a long GC) holds every connection sent to it since. It is the
   * earliest sign of a busy worker the primary has: it needs no report, and a connection sent to a
   * worker with some in flight waits behind them.
   */
  readonly inFlight: number;
  /** Requests served, as last reported by the worker. */
  readonly requests: number;
  /**
   * Event-loop delay (p99, ms), as last reported by the worker: sampled over the second before each
   * of its periodic reports (every 1 s), and repeated in the reports between them.
   */
  readonly eventLoopDelay: number;
  /**
   * When the worker's last load report (`requests`, `eventLoopDelay`, closes) arrived, in ms on the
   * primary's monotonic clock (`performance.timeOrigin + performance.now()`, close to ms since the
   * epoch); 0 before the first. Reports come at least once a second, and within 10 ms of a change
   * (every turn of the worker's loop with `readsLoad`). It is the policies' clock: a policy that
   * smooths the figures over time (`peakEwma()`) measures time between two reports, so it needs no
   * clock of its own and stays deterministic in tests.
   */
  readonly reportedAt: number;
  /** When the worker became ready, in ms since the epoch (from the primary's clock). */
  readonly readySince: number;
}

/** What is known of a connection when the policy picks its worker. */
export interface ConnectionInfo {
  /** Index of the listener that accepted it, in the order of the `listen` option. */
  readonly listener: number;
  /** The client's address; `undefined` unless the policy asked for it (`needsRemoteAddress`) or for Unix sockets. */
  readonly remoteAddress: string | undefined;
  /** The client's port, when known. */
  readonly remotePort: number | undefined;
  /** Address family of the client, when known. */
  readonly family: 'IPv4' | 'IPv6' | 'unix' | undefined;
}

/** Where connections are accepted, and so who chooses the worker. */
export type PolicyMode = 'primary' | 'shared' | 'reuseport';

/**
 * A policy of mode `primary`: the primary accepts every connection and asks `pick` for a worker.
 */
export interface PrimaryPolicy {
  readonly mode: 'primary';
  /** Name used in logs, events and the demo's `POLICY` setting. */
  readonly name: string;
  /**
   * When true, the primary reads the client's address (one `getpeername` per connection) and passes
   * it in `info`; leave it out when the policy does not look at the address.
   */
  readonly needsRemoteAddress?: boolean;
  /**
   * When true, the policy reads the workers' load (`connections`, `requests`, `eventLoopDelay`) and
   * wants it current: workers then report every change at the end of their event-loop turn instead
   * of coalescing changes over 10 ms (a little more IPC under churn, for fresher counts).
   */
  readonly readsLoad?: boolean;
  /**
   * When true, the primary keeps at most one batch in flight per worker: it offers `pick` only the
   * workers that took everything sent to them before the primary's current event-loop turn, and
   * when no worker qualifies, the connection waits in the primary (within `maxPending` and
   * `queueTimeout`, else 503) and goes to the first worker that takes what it holds. Connections
   * then queue once, in the primary, for whichever worker frees up first, instead of in the line
   * of one worker that may be stuck in a CPU-heavy request (how `node:cluster`'s round-robin keeps
   * its tail latency). Within one turn a free worker may be offered again, up to its fair share of
   * that turn's connections (those placed plus those waiting, over the ready workers), so
   * `inFlight` in `pick` can be above 0: prefer the lowest. On the native transport the
   * connections of one turn leave in one batch with one acknowledgement, so a burst costs one
   * round trip per worker, not one per connection. On the IPC transport every handle travels alone
   * and Node acknowledges each, so there it is one connection in flight (`inFlight === 0` for
   * every worker offered). Leave it out for a policy that must send a connection to one worker in
   * particular (a hash, a strict rotation).
   */
  readonly oneInFlight?: boolean;
  /**
   * Chooses the worker for one connection among `workers` (ready, not draining, ascending `id`,
   * never empty when called by the orchestrator). Returns one of them, or `undefined` to queue the
   * connection. Must be pure and fast: it runs once per connection.
   */
  pick(workers: readonly WorkerView[], info: ConnectionInfo): WorkerView | undefined;
  /** Called when a worker becomes ready (and so pickable). */
  join?(worker: WorkerView): void;
  /** Called when a worker stops being pickable (draining, exited). */
  leave?(worker: WorkerView): void;
}

/** A policy of mode `shared`: every worker accepts on one shared listening socket; the OS picks. */
export interface SharedPolicy {
  readonly mode: 'shared';
  readonly name: string;
  /**
   * When set, the primary steers which workers accept: a worker that holds more than its fair share
   * of open connections (plus `tolerance`, plus `slack` connections) stops accepting until it is
   * below it again, unless every worker that accepts has been busy for `busyAfter` ms (0 or absent:
   * never). No per-connection IPC. See `balancedShared()`.
   */
  readonly balance?: BalanceSettings;
}

/** The balance settings of a shared policy (`balancedShared()`), which the primary's steering reads. */
export interface BalanceSettings {
  /** How far above the fair share a worker may go, as a fraction (0.05: 5 %). */
  readonly tolerance: number;
  /** Connections a worker may hold above its share besides the tolerance (0 by default). */
  readonly slack: number;
  /**
   * How long, in ms, an armed worker may leave a probe unanswered before it counts as busy and the
   * paused ones may accept over their limit; 0 or absent: never (a worker over its share waits,
   * however busy the others are).
   */
  readonly busyAfter?: number;
}

/** A policy of mode `reuseport`: each worker binds its own socket with `SO_REUSEPORT`; the kernel hashes. */
export interface ReusePortPolicy {
  readonly mode: 'reuseport';
  readonly name: string;
}

/** Any load-distribution policy. Set it with the orchestrator's `policy` option. */
export type Policy = PrimaryPolicy | SharedPolicy | ReusePortPolicy;
