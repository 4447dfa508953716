import type { EventEmitter } from 'node:events';
import type { ListenAddress } from '@handoff/protocol';
import type { WorkerMetrics, WorkerMetricsOptions } from './app-metrics.js';
import type { RejectReason } from './refuse.js';
import type { ListeningSocket } from './handover.js';
import type { PrimaryEvents, WorkerInfo } from './events.js';
import type { PrimaryState } from './states.js';

// The primary's public face: what `createPrimary()` returns (implemented in primary.ts).

/** Options of `close()`. */
export interface CloseOptions {
  /** How long workers may take to finish their connections before they are killed, in ms. @default options.drainTimeout */
  readonly timeout?: number;
  /**
   * The sockets of `listeningSockets()` that another primary serves now (an upgrade): closing
   * leaves their Unix socket paths in place, for that primary to serve and remove.
   */
  readonly handedOver?: readonly ListeningSocket[];
}

/** What {@link Primary.stats} returns. */
export interface PrimaryStats {
  /** Connections waiting in the primary for a ready (or, under `oneInFlight`, a free) worker now. */
  readonly queued: number;
  /** Connections the primary answered itself (503, or a close for `protocol: 'tcp'`) since it started, by reason. */
  readonly rejected: Readonly<Record<RejectReason, number>>;
  /**
   * Connections that draining workers gave back between requests since it started (`moveOnDrain`),
   * each placed again on another worker: how many reconnects a reload saved its clients.
   */
  readonly moved: number;
  /**
   * Connections closed for want of a valid PROXY protocol header since it started, by
   * `HANDOFF_ERR_PROXY_*` code: in mode `primary` as the primary closes them; in the kernel modes,
   * where the workers read the headers, as their load reports bring the counts (within ~10 ms).
   */
  readonly proxyRefused: Readonly<Record<string, number>>;
  /**
   * Failed accepts on the primary's listeners since it started, by errno code (`EMFILE`, `ENFILE`,
   * …), as the OS reported them to handoff. Where Node accepts (the IPC transport), libuv handles an
   * EMFILE itself by accepting and closing what waits: those are not seen here, which is why the
   * primary answers 503 (`rejected.descriptors`) before it runs out.
   */
  readonly acceptFailed: Readonly<Record<string, number>>;
}

/** The primary process: owns the listeners and the workers. Create it with {@link createPrimary}. */
export interface Primary extends EventEmitter<PrimaryEvents> {
  /** Where it is in its lifecycle. */
  readonly state: PrimaryState;
  /**
   * Reads what the options leave to the machine (systemd's sockets, `user` and `group`, the CPUs for
   * `workers: 'auto'`, `HANDOFF_TRANSPORT`: a mistake there rejects with `HANDOFF_ERR_INVALID_OPTION`
   * naming the option), binds every listener (a taken port fails here, before any fork), forks the workers and resolves
   * when each is ready; rejects at `readyTimeout`, or when a worker exits first, with a typed error
   * carrying its exit code and last stderr lines.
   */
  start(options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Stops accepting, drains every worker, and resolves when every child has exited. */
  close(options?: CloseOptions): Promise<void>;
  /** Replaces every worker, one at a time: the new one is ready before the old one drains. */
  reload(options?: { readonly signal?: AbortSignal }): Promise<void>;
  /** Changes the number of workers while serving; down by draining. */
  scale(workers: number): Promise<void>;
  /** A snapshot of the live workers, ascending id. */
  workers(): readonly WorkerInfo[];
  /** Where each listener is bound (with the real port when 0 was asked for), in `listen` order. */
  addresses(): readonly ListenAddress[];
  /**
   * The listening sockets it holds, each with this process's descriptor and (drop-in mode) the app
   * address it serves: what a new primary adopts as `{ fd }` in an upgrade (`handoff upgrade`).
   * Empty unless it is running.
   */
  listeningSockets(): readonly ListeningSocket[];
  /** Counters of the primary itself: connections waiting for a worker now, and those it answered itself (503 or close), by reason. */
  stats(): PrimaryStats;
  /**
   * Asks every ready or draining worker for its app's own metrics (the registry the app exposes,
   * see `@handoff/metrics`) and resolves within `timeout` ms with one entry per worker: one that
   * exposes none, hangs or exits says so in its `status`, and is never waited for past `timeout`.
   * Costs nothing until called: what a `/metrics` scrape calls.
   */
  workerMetrics(options?: WorkerMetricsOptions): Promise<readonly WorkerMetrics[]>;
  [Symbol.asyncDispose](): Promise<void>;
}
