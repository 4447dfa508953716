import type { HandoffError, ListenAddress } from '@handoff/protocol';
import type { RejectReason } from './refuse.js';
import type { PrimaryState, WorkerState } from './states.js';
import type { ProxyRefusal } from './proxy-intake.js';

// Until primary.ts reads it from states.ts.
export type { PrimaryState } from './states.js';

/** A read-only snapshot of one worker. */
export interface WorkerInfo {
  /** Unique for the primary's lifetime; a replacement gets a new id. */
  readonly id: number;
  readonly pid: number;
  readonly state: WorkerState;
  /** When it entered its current state, ms since the epoch. */
  readonly since: number;
  /** Open connections as the primary knows them. */
  readonly connections: number;
  /** Requests served, as last reported. */
  readonly requests: number;
  /** Times the worker's slot was restarted after an unexpected exit. */
  readonly restarts: number;
  /** Resident set size in bytes, as last reported (0 before the first report). */
  readonly rss: number;
  /**
   * The worker's slot, 0 to n-1, also its `HANDOFF_INSTANCE` environment variable: a replacement
   * (crash, reload, recycle) takes the same number, so an app can run a job on instance 0 only.
   */
  readonly instance: number;
  /** When the process was forked, ms since the epoch (its uptime is `Date.now() - spawnedAt`). */
  readonly spawnedAt: number;
  /** Event-loop delay in ms (p99 over the last second), as last reported (0 before the first report). */
  readonly eventLoopDelay: number;
  /** Event-loop delay in ms, p50 over the last second, as last reported (0 before the first report). */
  readonly eventLoopDelayP50: number;
  /** V8 heap used in bytes, as last reported (0 before the first report). */
  readonly heapUsed: number;
  /**
   * Mode `primary`: what its connections cross on, `'native'` (`@handoff/fdpass`) or `'ipc'` (a
   * worker whose addon did not load, or that ran out of descriptors, goes on over IPC alone);
   * `null` in the kernel modes, where none cross.
   */
  readonly transport: 'native' | 'ipc' | null;
}

/** Typed events of a `Primary`. */
export interface PrimaryEvents {
  /** A worker process was forked. */
  'worker:spawn': [worker: WorkerInfo];
  /** A worker said it is ready and may now be picked. */
  'worker:ready': [worker: WorkerInfo];
  /** A worker exited; `expected` is false for crashes (which are replaced). */
  'worker:exit': [worker: WorkerInfo, exit: { readonly code: number | null; readonly signal: string | null; readonly expected: boolean }];
  /** Workers crash in a loop: `crashes` unexpected exits within `windowMs`; the next replacement waits `nextDelayMs`. */
  'worker:crash-loop': [info: { readonly crashes: number; readonly windowMs: number; readonly nextDelayMs: number }];
  /** A worker stopped answering the heartbeat for `stuckMs` (its event loop is blocked); it is killed and replaced. */
  'worker:unresponsive': [worker: WorkerInfo, info: { readonly stuckMs: number }];
  /**
   * A worker is replaced gracefully: it reached `maxRequests` or `maxMemory` (new one ready, then old
   * one drained), or it takes no connection any more: its app closed its server(s) (`server-closed`),
   * or it was sent SIGTERM / SIGINT on its own and drains (`signal`). Then it drains at once while
   * its replacement starts, after the crash backoff if it keeps happening.
   */
  'worker:recycle': [worker: WorkerInfo, info: { readonly reason: 'max-requests' | 'max-memory' | 'server-closed' | 'signal' }];
  /** A draining worker's progress, as it reports it: `started` (with the connections it holds), then `idle` (none left, or the deadline passed: `open` says how many it cut). */
  'worker:drain': [worker: WorkerInfo, progress: { readonly phase: 'started' | 'idle'; readonly open: number }];
  /** A rolling reload began. */
  'reload:start': [];
  /** A rolling reload ended: `replaced` workers were replaced; `error` is set if it was aborted. */
  'reload:end': [result: { readonly replaced: number; readonly error?: HandoffError }];
  /** The primary's state changed. */
  state: [change: { readonly from: PrimaryState; readonly to: PrimaryState }];
  /** The primary answered a connection itself (503 or close): no worker could take it. */
  /** Drop-in mode: the primary bound a listener a worker's app asked for (index in `addresses()`). */
  'listener:bound': [info: { readonly listener: number; readonly address: ListenAddress }];
  'connection:rejected': [info: { readonly id: number; readonly listener: number; readonly reason: RejectReason }];
  /**
   * Mode `primary`: a connection on a `proxyProtocol` listener was closed before any worker saw it:
   * no valid PROXY header in time, or a peer outside `trusted` (`code` says which). In the kernel
   * modes workers read the header and publish the same on the `proxyRefused` diagnostics channel.
   */
  'connection:proxy-refused': [info: ProxyRefusal];
  /** With `output: 'pipe'`: bytes a worker wrote to its stdout or stderr, in the chunks they came in (not split into lines). */
  'worker:output': [worker: WorkerInfo, output: { readonly stream: 'stdout' | 'stderr'; readonly chunk: Buffer }];
  /** Something went wrong that the primary survived: a bad message from a worker, a failed reload… */
  error: [error: HandoffError];
}
