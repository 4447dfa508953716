// Longer than most modules: the primary's lifecycle (start, close, reload, scale) as one state
// machine; its parts are made in start() and passed to the supervisor and the dispatcher.
import { EventEmitter } from 'node:events';
import { createPrimaryTransport, type PrimaryTransport } from '@handoff/fdpass';
import { roundRobin } from '@handoff/policies';
import { HandoffError, type ListenAddress } from '@handoff/protocol';
import { AcceptFailures } from './accept-failures.js';
import { bindListener } from './bind.js';
import type { BoundListener } from './types.js';
import { channels } from './diagnostics.js';
import { Dispatcher, ipcConnectionMessage } from './dispatcher.js';
import { DropInBinder } from './drop-in.js';
import { leavePaths, listeningSockets, type ListeningSocket } from './handover.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { PrimaryEvents, WorkerInfo } from './events.js';
import { REJECT_REASONS, type RejectReason } from './refuse.js';
import type { PrimaryState } from './states.js';
import type { PrimaryOptions, ResolvedOptions } from './options.js';
import { validateOptions, type ValidatedOptions } from './validate-options.js';
import { resolveEnvironment } from './environment.js';
import { ReadySet } from './ready-set.js';
import { installSignalHandlers } from './signals.js';
import { Supervisor, type SupervisorHost } from './supervisor.js';
import type { WorkerProcess } from './worker-process.js';
import type { CloseOptions, Primary, PrimaryStats } from './primary-api.js';
import { collectWorkerMetrics, type WorkerMetrics, type WorkerMetricsOptions } from './app-metrics.js';

export type { CloseOptions, Primary, PrimaryStats } from './primary-api.js';


class PrimaryImpl extends EventEmitter<PrimaryEvents> implements Primary {
  private current: PrimaryState = 'new';
  /** Checked by createPrimary(); start() completes it from the machine into `options`. */
  private readonly validated: ValidatedOptions;
  /** Set by start() before anything reads it. */
  private options!: ResolvedOptions;
  private readonly supervisorHost: SupervisorHost;
  /** The pool, made by start() once the listeners are bound. */
  private supervisor: Supervisor | undefined;
  private bound: BoundListener[] = [];
  private dispatcher: Dispatcher | undefined;
  private closing: Promise<void> | undefined;
  private reloading: Promise<void> | undefined;

  constructor(options: PrimaryOptions) {
    super();
    this.validated = validateOptions(options);
    const primary = this;
    this.supervisorHost = {
      // A worker's events become the primary's here, once, under their public names.
      announce: (event, ...args) => (primary.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args),
      proxyRefused: (counts) => {
        for (const [code, n] of Object.entries(counts)) primary.proxyRefused[code] = (primary.proxyRefused[code] ?? 0) + n;
      },
      error: (error) => primary.reportError(error),
    };
  }

  get state(): PrimaryState {
    return this.current;
  }

  private setState(to: PrimaryState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    if (channels.state.hasSubscribers) channels.state.publish({ from, to });
    this.emit('state', { from, to });
  }

  /** 'error' events are only emitted when someone listens: an unobserved one must not crash the primary. */
  private reportError(error: import('@handoff/protocol').HandoffError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  async start(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    if (this.current !== 'new') throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_STATE, `start() was already called (state ${this.current}); create a new primary`);
    options.signal?.throwIfAborted();
    this.setState('starting');
    try {
      // What depends on the machine (systemd's sockets, users, CPUs, HANDOFF_TRANSPORT) is read now.
      this.options = resolveEnvironment(this.validated);
    } catch (error) {
      this.setState('stopped');
      throw error;
    }
    const mode = this.options.policy.mode;
    // Who accepts: the primary's dispatcher in mode primary (and reuseport's start-up hand-over);
    // whether the primary places connections at all: also for the moves of the shared modes.
    const accepts = mode === 'primary' || mode === 'reuseport';
    const places = accepts || this.options.moveOnDrain;
    let transport: PrimaryTransport | undefined;
    try {
      // Mode primary: connections cross on the chosen transport (said once on
      // handoff:transport:selected); reuseport's start-up hand-over is rare enough for IPC.
      // shared: the connections a drain moves (moveOnDrain) are placed by the primary, over IPC.
      if (places) transport = createPrimaryTransport({ transport: mode === 'primary' ? this.options.transport : 'ipc', ipcMessage: ipcConnectionMessage });
      for (let i = 0; i < this.options.listen.length; i++) this.bound.push(await bindListener(i, this.options.listen[i]!, mode));
    } catch (error) {
      for (const l of this.bound) l.close();
      this.setState('stopped');
      throw error;
    }
    const ready = new ReadySet(this.options.dropIn !== undefined);
    let dropIn: DropInBinder | undefined;
    if (this.options.dropIn !== undefined) {
      dropIn = this.binder = new DropInBinder(mode, this.options.dropIn.ports, {
        listeners: this.bound,
        attach: (l) => {
          if (accepts) this.dispatcher?.attach(l);
          this.emit('listener:bound', { listener: l.index, address: l.address });
        },
      }, this.options.dropIn.host, this.options.identity !== undefined, this.options.dropIn.proxyProtocol, this.options.dropIn.sockets);
    }
    if (places) {
      // reuseport: what lands on the primary's reserving socket before the workers' sockets listen
      // is handed over in turn, never left hanging (see bind.ts, reserveReusePort).
      const policy = mode === 'primary' ? (this.options.policy as Extract<typeof this.options.policy, { mode: 'primary' }>) : roundRobin();
      this.dispatcher = new Dispatcher(policy, {
        readyWorkers: ready.forListener,
        onRejected: (id, listener, reason) => {
          this.rejected[reason]++;
          this.emit('connection:rejected', { id, listener, reason });
        },
        onMoved: () => this.moved++,
        newGenerationFrom: () => this.newGenerationFrom,
        onAcceptFailed: (listener, code) => this.acceptFailures.failed(listener, code),
        onProxyRefused: (refusal) => {
          this.proxyRefused[refusal.code] = (this.proxyRefused[refusal.code] ?? 0) + 1;
          this.emit('connection:proxy-refused', refusal);
        },
      }, this.options, transport!);
      if (accepts) for (const l of this.bound) this.dispatcher.attach(l);
    }
    const supervisor = new Supervisor(this.options, this.supervisorHost, { listeners: this.bound, ready, dispatcher: this.dispatcher, transport, dropIn });
    this.supervisor = supervisor;
    this.installSignals();
    const started: WorkerProcess[] = [];
    for (let i = 0; i < this.options.workers; i++) started.push(supervisor.addSlot());
    try {
      await this.waitReady(started, options.signal);
    } catch (error) {
      await this.shutdownAfterFailedStart();
      throw error;
    }
    if (mode === 'reuseport') {
      // Every worker has its own SO_REUSEPORT socket now: the primary's socket leaves the group.
      for (const l of this.bound) l.close();
    }
    this.setState('running');
  }

  /** Resolves when every worker in `batch` is ready; rejects when one fails to start, or on abort. */
  private waitReady(batch: readonly WorkerProcess[], signal?: AbortSignal): Promise<void> {
    const supervisor = this.supervisor!;
    const all = Promise.all(batch.map((w) => supervisor.whenReady(w))).then(() => undefined);
    if (signal === undefined) return all;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(new HandoffPrimaryError(PrimaryErrorCode.ABORTED, 'the operation was aborted', { cause: signal.reason }));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      all.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async shutdownAfterFailedStart(): Promise<void> {
    const supervisor = this.supervisor!;
    supervisor.stopReplacing();
    this.dispatcher?.close();
    for (const l of this.bound) l.close();
    await Promise.all(supervisor.all().map((w) => supervisor.drain(w, 0)));
    this.removeSignals();
    this.setState('stopped');
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (options.handedOver !== undefined) leavePaths(this.bound, options.handedOver);
    this.closing ??= this.doClose(options.timeout ?? this.validated.drainTimeout);
    return this.closing;
  }

  private async doClose(timeout: number): Promise<void> {
    if (this.current === 'new' || this.current === 'stopped') {
      this.setState('stopped');
      return;
    }
    this.setState('draining');
    const supervisor = this.supervisor;
    supervisor?.stopReplacing();
    // Stop accepting first, so nothing new lands on a draining worker.
    for (const l of this.bound) l.close();
    this.dispatcher?.close();
    this.acceptFailures.close();
    const workers = supervisor?.all() ?? [];
    await Promise.all(workers.map((w) => supervisor!.drain(w, timeout)));
    // The exit code tells the truth: 1 when a worker had to be killed at the deadline, or died of a
    // signal or an error instead of finishing its drain.
    this.killedAtDeadline = workers.some((w) => w.signalCode !== null || (w.exitCode !== null && w.exitCode !== 0));
    this.removeSignals();
    this.setState('stopped');
  }

  /** True when `close()` had to SIGKILL a worker that did not finish draining in time. */
  private killedAtDeadline = false;

  reload(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    if (this.current !== 'running' && this.current !== 'reloading') {
      return Promise.reject(new HandoffPrimaryError(PrimaryErrorCode.INVALID_STATE, `reload() needs a running primary (state ${this.current})`));
    }
    if (this.reloading === undefined) {
      this.reloading = this.doReload(options.signal).finally(() => {
        this.reloading = undefined;
      });
      return this.reloading;
    }
    // A reload runs, and the code on disk may be newer than what it has already started: one more
    // reload follows it, however many are asked for meanwhile (50 SIGHUPs fork as 2 reloads do).
    this.nextReload ??= this.reloading
      .catch(() => {})
      .then(() => {
        this.nextReload = undefined;
        // A close() in between: there is nothing left to reload.
        return this.closing === undefined ? this.reload(options) : undefined;
      });
    return this.nextReload;
  }

  /** The reload asked for while one ran (see `reload()`): at most one waits. */
  private nextReload: Promise<void> | undefined;

  /** Resolves once no reload runs or waits (each settled, whatever its outcome). */
  private async reloadsSettled(): Promise<void> {
    while (this.reloading !== undefined || this.nextReload !== undefined) await (this.nextReload ?? this.reloading)!.catch(() => {});
  }

  private async doReload(signal?: AbortSignal): Promise<void> {
    this.setState('reloading');
    this.emit('reload:start');
    let replaced = 0;
    try {
      // Replace `reloadConcurrency` workers at a time; each new one is ready before its old one drains.
      const supervisor = this.supervisor!;
      const olds = supervisor.all().filter((w) => w.state === 'ready' || w.state === 'starting');
      // Connections the old workers' drains move go to the new generation, not to an old worker
      // about to drain in turn (see the dispatcher's `moved`).
      this.newGenerationFrom = supervisor.nextId;
      for (let i = 0; i < olds.length; i += this.options.reloadConcurrency) {
        signal?.throwIfAborted();
        if (this.current !== 'reloading') break;
        const batch = olds.slice(i, i + this.options.reloadConcurrency).filter((w) => w.state !== 'exited' && !w.expectedExit);
        await Promise.all(batch.map((old) => supervisor.succeed(old)));
        replaced += batch.length;
      }
      if (this.current === 'reloading') this.setState('running');
      this.newGenerationFrom = undefined;
      this.emit('reload:end', { replaced });
    } catch (error) {
      this.newGenerationFrom = undefined;
      if (this.current === 'reloading') this.setState('running');
      // A typed failure (a worker that did not start, one refused for its protocol version) keeps its code.
      const e = error instanceof HandoffError ? error : new HandoffPrimaryError(PrimaryErrorCode.ABORTED, 'reload aborted', { cause: error });
      this.emit('reload:end', { replaced, error: e });
      throw e;
    }
  }

  async scale(count: number): Promise<void> {
    if (!Number.isInteger(count) || count < 1) throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, `scale() needs an integer >= 1, got ${count}`);
    // During a reload: after it (and the one asked for meanwhile), on the pool it leaves.
    if (this.current === 'reloading') await this.reloadsSettled();
    if (this.current !== 'running') throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_STATE, `scale() needs a running primary (state ${this.current})`);
    const added: WorkerProcess[] = [];
    const supervisor = this.supervisor!;
    supervisor.aim(count);
    while (supervisor.slotCount < count) added.push(supervisor.addSlot());
    const removed: Promise<void>[] = [];
    while (supervisor.slotCount > count) {
      const worker = supervisor.removeSlot();
      if (worker !== undefined) removed.push(supervisor.drain(worker, this.options.drainTimeout));
    }
    await Promise.all([this.waitReady(added), ...removed]);
  }

  workers(): readonly WorkerInfo[] {
    const supervisor = this.supervisor;
    return supervisor === undefined ? [] : supervisor.all().map((w) => supervisor.info(w));
  }

  addresses(): readonly ListenAddress[] {
    return this.bound.map((l) => l.address);
  }

  /** Drop-in mode: binds what the apps ask for (made by start()). */
  private binder: DropInBinder | undefined;

  listeningSockets(): readonly ListeningSocket[] {
    if (this.current === 'new' || this.current === 'stopped' || this.current === 'draining') return [];
    return listeningSockets(this.bound, this.binder);
  }

  /** Every reason counted from 0, so stats() and /metrics show each one before it happens. */
  private readonly rejected = Object.fromEntries(REJECT_REASONS.map((reason) => [reason, 0])) as Record<RejectReason, number>;

  private readonly acceptFailures = new AcceptFailures();

  private readonly proxyRefused: Record<string, number> = {};

  private moved = 0;

  /** During a reload: the id of its first new worker (ids grow with each fork). */
  private newGenerationFrom: number | undefined;

  stats(): PrimaryStats {
    return { queued: this.dispatcher?.queued ?? 0, rejected: { ...this.rejected }, moved: this.moved, proxyRefused: { ...this.proxyRefused }, acceptFailed: { ...this.acceptFailures.byCode } };
  }

  workerMetrics(options: WorkerMetricsOptions = {}): Promise<readonly WorkerMetrics[]> {
    const supervisor = this.supervisor;
    const asked = supervisor === undefined ? [] : supervisor.all().filter((w) => w.state === 'ready' || w.state === 'draining');
    return collectWorkerMetrics(asked, (w) => supervisor!.info(w), options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private installSignals(): void {
    if (!this.options.handleSignals) return;
    this.removeSignals = installSignalHandlers(
      {
        close: () => this.close().then(() => !this.killedAtDeadline),
        reload: () => this.reload(),
        killAll: () => {
          for (const w of this.supervisor?.all() ?? []) w.kill('SIGKILL');
        },
        reportError: (error) => this.reportError(error as HandoffPrimaryError),
      },
      this.options.reloadOnSighup,
    );
  }

  private removeSignals: () => void = () => {};
}

/**
 * Creates the primary: it will bind `listen`, fork `workers` copies of `worker`, and spread
 * connections with `policy`. Options are validated now: a mistake throws a `HandoffPrimaryError`
 * with code `HANDOFF_ERR_INVALID_OPTION` that names the option. What depends on the machine
 * (systemd's sockets, `user` and `group`, `workers: 'auto'`, `HANDOFF_TRANSPORT`) is read by
 * `start()`, which rejects with the same error.
 *
 * @example
 * ```js
 * import { createPrimary } from '@handoff/orchestrator';
 *
 * const primary = createPrimary({ worker: new URL('./worker.js', import.meta.url), workers: 2, listen: 3000 });
 * await primary.start();
 * ```
 */
export function createPrimary(options: PrimaryOptions): Primary {
  return new PrimaryImpl(options);
}
