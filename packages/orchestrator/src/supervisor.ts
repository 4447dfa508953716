import { createMessage, HandoffProtocolError, isProtocolErrorCode, ProtocolErrorCode, type HandoffError, type ListenProxy } from '@handoff/protocol';
import { RecentEvents, restartDelay } from './backoff.js';
import { HealthMonitor, type RecycleReason } from './health.js';
import type { BoundListener } from './bind.js';
import { channels, debug } from './diagnostics.js';
import type { Dispatcher } from './dispatcher.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { WorkerInfo } from './events.js';
import { proxyProtocolOf, type ResolvedOptions } from './options.js';
import type { DropInBinder } from './drop-in.js';
import { AcceptSteering } from './steering.js';
import { WorkerProcess } from './worker-process.js';

/** A place in the pool: when its worker crashes, a new one takes the slot. */
interface Slot {
  readonly index: number;
  worker: WorkerProcess | undefined;
  restarts: number;
  readonly crashes: RecentEvents;
  respawnTimer: NodeJS.Timeout | undefined;
  /** False once the slot was removed (scale down, close): its exits are not replaced. */
  active: boolean;
}

/** What the supervisor tells the primary. */
export interface SupervisorHost {
  workerSpawned(worker: WorkerInfo): void;
  workerReady(worker: WorkerInfo): void;
  workerDraining(worker: WorkerInfo, phase: 'started' | 'idle', open: number): void;
  workerExited(worker: WorkerInfo, code: number | null, signal: string | null, expected: boolean): void;
  crashLoop(crashes: number, windowMs: number, nextDelayMs: number): void;
  unresponsive(worker: WorkerInfo, stuckMs: number): void;
  recycle(worker: WorkerInfo, reason: RecycleReason): void;
  output(worker: WorkerInfo, stream: 'stdout' | 'stderr', chunk: Buffer): void;
  error(error: HandoffError): void;
}

/**
 * Keeps the pool of worker processes: forks them, introduces them to the listeners, tracks which
 * are ready, replaces the ones that crash (with backoff; a crash loop is reported once), and drains
 * or kills them on request.
 */
export class Supervisor {
  private nextWorkerId = 1;
  private readonly slots: Slot[] = [];
  private readonly workers = new Map<number, WorkerProcess>();
  private ready: WorkerProcess[] = [];
  private readonly allCrashes: RecentEvents;
  private inCrashLoop = false;
  dispatcher: Dispatcher | undefined;
  listeners: readonly BoundListener[] = [];
  /** While false (closing), exits are never replaced. */
  replacing = true;
  /** Balanced shared mode only: who accepts on the shared sockets. */
  private readonly steering: AcceptSteering<WorkerProcess> | undefined;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly host: SupervisorHost,
  ) {
    this.allCrashes = new RecentEvents(options.restart.crashLoopWindow);
    const policy = options.policy;
    if (policy.mode === 'shared' && policy.balance !== undefined) {
      this.steering = new AcceptSteering(policy.balance, {
        rearm: (worker, limit) => this.sendListeners(worker, limit),
        tighten: (worker, limit) => worker.post(createMessage('limit', { open: limit })),
      });
    }
  }

  /** Drop-in mode: binds what the workers' apps listen on. */
  dropIn: DropInBinder | undefined;
  /** Drop-in mode: the ready workers that bound each listener, rebuilt when either changes. */
  private readonly readyByListener = new Map<number, WorkerProcess[]>();

  /**
   * Ready workers, ascending id: what policies pick from for a connection of `listener`. Rebuilt
   * only when it changes. In drop-in mode only the workers whose app bound that listener.
   */
  readyWorkers = (listener: number): readonly WorkerProcess[] => {
    if (this.dropIn === undefined) return this.ready;
    let workers = this.readyByListener.get(listener);
    if (workers === undefined) {
      workers = this.ready.filter((w) => w.dropInListeners.has(listener));
      this.readyByListener.set(listener, workers);
    }
    return workers;
  };

  /** Every live worker, ascending id. */
  all(): WorkerProcess[] {
    return [...this.workers.values()];
  }

  get slotCount(): number {
    return this.slots.filter((s) => s.active).length;
  }

  /**
   * Adds a slot and forks its worker. A slot removed by a scale down is taken again first (lowest
   * index), so the active slots are always 0..n-1: a slot's index is its worker's stable
   * `HANDOFF_INSTANCE`.
   */
  addSlot(): WorkerProcess {
    const free = this.slots.find((s) => !s.active);
    if (free !== undefined) {
      free.active = true;
      free.restarts = 0;
      return this.spawn(free);
    }
    const slot: Slot = { index: this.slots.length, worker: undefined, restarts: 0, crashes: new RecentEvents(this.options.restart.crashLoopWindow), respawnTimer: undefined, active: true };
    this.slots.push(slot);
    return this.spawn(slot);
  }

  /** Removes the newest active slot; returns its worker (the caller drains it). */
  removeSlot(): WorkerProcess | undefined {
    for (let i = this.slots.length - 1; i >= 0; i--) {
      const slot = this.slots[i]!;
      if (!slot.active) continue;
      slot.active = false;
      if (slot.respawnTimer !== undefined) clearTimeout(slot.respawnTimer);
      return slot.worker;
    }
    return undefined;
  }

  /** Forks a worker into `slot` (replacing what is there in the slot's bookkeeping). */
  spawn(slot: Slot): WorkerProcess {
    const worker = new WorkerProcess(this.nextWorkerId++, slot.index, this.options);
    worker.countsDispatch = this.options.policy.mode === 'primary';
    slot.worker = worker;
    this.workers.set(worker.id, worker);
    this.wire(worker);
    if (channels.spawn.hasSubscribers) channels.spawn.publish({ id: worker.id, pid: worker.pid });
    this.host.workerSpawned(this.info(worker));
    return worker;
  }

  /**
   * Replaces `old` gracefully: forks its successor into the same slot, waits until it is ready, then
   * drains `old`. If the successor fails to become ready, `old` keeps serving and this rejects.
   */
  async replace(old: WorkerProcess): Promise<WorkerProcess> {
    const slot = this.slots[old.slot]!;
    old.expectedExit = true;
    const fresh = this.spawn(slot);
    try {
      await this.whenReady(fresh);
    } catch (error) {
      // The new code does not start: the old worker stays in its slot and keeps serving.
      fresh.expectedExit = true;
      fresh.kill('SIGKILL');
      slot.worker = old;
      old.expectedExit = false;
      throw error;
    }
    await this.drain(old, this.options.drainTimeout);
    return fresh;
  }

  /**
   * Resolves when `worker` is ready; rejects with `HANDOFF_ERR_WORKER_START_FAILED` if it exits
   * first, or `HANDOFF_ERR_READY_TIMEOUT` if it was killed for taking longer than `readyTimeout`.
   */
  whenReady(worker: WorkerProcess): Promise<void> {
    if (worker.state === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        worker.off('exit', onExit);
        resolve();
      };
      const onExit = (): void => {
        worker.off('ready', onReady);
        reject(this.startFailure(worker));
      };
      if (worker.state === 'exited') {
        onExit();
        return;
      }
      worker.once('ready', onReady);
      worker.once('exit', onExit);
    });
  }

  private startFailure(w: WorkerProcess): HandoffError {
    // Refused for its protocol version: that, not its exit, is what the user must fix.
    if (w.refusal !== undefined) return w.refusal;
    const details = { exitCode: w.exitCode, signal: w.signalCode, stderr: w.stderr() };
    const tail = `Its last stderr lines:\n${w.stderr() || '(none)'}`;
    if (w.readyTimedOut) {
      return new HandoffPrimaryError(
        PrimaryErrorCode.READY_TIMEOUT,
        `worker ${w.id} (pid ${w.pid}) was not ready within ${this.options.readyTimeout} ms and was killed; raise readyTimeout, or call ready() sooner. ${tail}`,
        { details },
      );
    }
    const how = w.signalCode !== null ? `signal ${w.signalCode}` : `exit code ${w.exitCode}`;
    return new HandoffPrimaryError(
      PrimaryErrorCode.WORKER_START_FAILED,
      `worker ${w.id} (pid ${w.pid}) exited before it was ready (${how}); does ${this.options.worker} call serve() from @handoff/worker? ${tail}`,
      { details },
    );
  }

  private wire(worker: WorkerProcess): void {
    const readyTimer = setTimeout(() => {
      if (worker.state !== 'starting') return;
      worker.readyTimedOut = true;
      this.host.error(
        new HandoffPrimaryError(PrimaryErrorCode.READY_TIMEOUT, `worker ${worker.id} (pid ${worker.pid}) did not become ready within ${this.options.readyTimeout} ms; it is killed`, {
          details: { stderr: worker.stderr() },
        }),
      );
      worker.kill('SIGKILL');
    }, this.options.readyTimeout);
    readyTimer.unref();
    worker.on('hello', () => this.introduce(worker));
    worker.on('output', (stream, chunk) => this.host.output(this.info(worker), stream, chunk));
    worker.on('draining', (phase, open) => this.host.workerDraining(this.info(worker), phase, open));
    worker.on('bind', (message) => {
      if (this.dropIn !== undefined) this.dropIn.bind(worker, message);
      else this.host.error(new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, `worker ${worker.id} (pid ${worker.pid}) asked to bind ${JSON.stringify(message.address)}, but the primary runs without dropIn`));
    });
    worker.on('bound', () => {
      this.readyByListener.clear();
      this.dispatcher?.flushQueue();
    });
    worker.on('unlisten', (listener) => this.onUnlisten(worker, listener));
    worker.on('return', (message, handle) => {
      if (this.dispatcher !== undefined) this.dispatcher.returned(worker, message, handle);
      else handle.close();
    });
    new HealthMonitor(worker, this.options, {
      unresponsive: (w, stuckMs) => {
        this.host.unresponsive(this.info(w), stuckMs);
        // Its loop is stuck: it cannot drain. Its pending connections are re-dispatched on exit.
        w.kill('SIGKILL');
      },
      recycle: (w, reason) => {
        this.host.recycle(this.info(w), reason);
        this.replace(w).catch((error: HandoffError) => this.host.error(error));
      },
    });
    worker.on('ready', () => {
      clearTimeout(readyTimer);
      this.rebuildReady();
      this.options.policy.mode === 'primary' && this.options.policy.join?.(worker);
      if (channels.ready.hasSubscribers) channels.ready.publish({ id: worker.id, pid: worker.pid });
      this.host.workerReady(this.info(worker));
      this.dispatcher?.flushQueue();
    });
    worker.onHandleSettled = (connection, received) => this.dispatcher?.settled(worker, connection, received);
    if (this.steering !== undefined) {
      const steering = this.steering;
      const steer = (): void => {
        if (worker.state === 'ready') steering.report(worker, worker.paused, this.ready);
      };
      worker.on('load', steer);
      worker.on('ready', steer);
    }
    worker.on('protocol-error', (error) => {
      if (error.code !== ProtocolErrorCode.VERSION) {
        this.host.error(error);
        return;
      }
      // It cannot be talked to: refuse it, once (its later messages are just as foreign). Its slot
      // is respawned after restart.maxDelay, not in a tight loop (see onExit).
      if (worker.refusal !== undefined) return;
      worker.refusal = new HandoffProtocolError(ProtocolErrorCode.VERSION, `worker ${worker.id} (pid ${worker.pid}) was refused: ${error.message}`, error.received, { cause: error });
      this.host.error(worker.refusal);
      worker.kill('SIGKILL');
    });
    worker.on('worker-error', (code, message) =>
      this.host.error(
        // A message the worker refused keeps its protocol code, so users can tell it from a failed listen.
        isProtocolErrorCode(code)
          ? new HandoffProtocolError(code, `worker ${worker.id} (pid ${worker.pid}) refused a message from the primary: ${message}`)
          : new HandoffPrimaryError(PrimaryErrorCode.LISTEN_FAILED, `worker ${worker.id}: ${code}: ${message}`),
      ),
    );
    worker.once('exit', (code, signal) => {
      clearTimeout(readyTimer);
      this.onExit(worker, code, signal);
    });
  }

  /** Answers `hello`: tells the worker about every listener. */
  private introduce(worker: WorkerProcess): void {
    // Drop-in: the worker's app says what it listens on; it gets only those listeners.
    if (this.options.dropIn !== undefined) return;
    this.sendListeners(worker, this.steering?.armed(worker, this.ready));
  }

  /** Sends `worker` every listener (with its handle in mode shared): to attach, or to re-arm. */
  private sendListeners(worker: WorkerProcess, limit: number | undefined): void {
    const total = this.listeners.length;
    for (const listener of this.listeners) {
      if (this.options.dropIn !== undefined && !worker.dropInListeners.has(listener.index)) continue;
      const message = createMessage('listen', { listener: listener.index, listeners: total, mode: listener.mode, address: listener.address, backlog: listener.option.backlog });
      if (limit !== undefined) (message as { limit?: number }).limit = limit;
      // Kernel modes: the worker accepts, so the worker reads the PROXY header.
      const proxy = listener.mode === 'primary' ? undefined : proxyProtocolOf(listener.option);
      if (proxy !== undefined) (message as { proxy?: ListenProxy }).proxy = proxy.trusted === undefined ? { timeout: proxy.timeout, maxHeaderBytes: proxy.maxHeaderBytes } : { timeout: proxy.timeout, maxHeaderBytes: proxy.maxHeaderBytes, trusted: proxy.trusted };
      worker.post(message, listener.mode === 'shared' ? listener.sharedHandle : undefined);
    }
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.id);
    this.steering?.leave(worker);
    const wasReady = this.ready.includes(worker);
    if (wasReady) this.rebuildReady();
    // Fewer workers share the connections: a paused one may be under the new limit.
    this.steering?.rebalance(this.ready);
    if (wasReady && this.options.policy.mode === 'primary') this.options.policy.leave?.(worker);
    this.dispatcher?.workerGone(worker);
    const slot = this.slots[worker.slot]!;
    const expected = worker.expectedExit;
    if (channels.exit.hasSubscribers) channels.exit.publish({ id: worker.id, pid: worker.pid, code, signal, expected });
    debug('worker %d (pid %d) exited: code %s signal %s expected %s', worker.id, worker.pid, code, signal, expected);
    this.host.workerExited(this.info(worker), code, signal, expected);
    if (expected || !slot.active || !this.replacing || slot.worker !== worker) return;
    // A crash: replace it after a backoff that grows with the slot's recent crashes.
    slot.restarts++;
    const slotCrashes = slot.crashes.record();
    const allCrashes = this.allCrashes.record();
    // A version mismatch does not heal by retrying at once: the same files would fork the same
    // worker. Waiting the longest delay still lets a fixed install come back without a restart.
    const delay = worker.refusal !== undefined ? this.options.restart.maxDelay : restartDelay(slotCrashes, this.options.restart.initialDelay, this.options.restart.maxDelay);
    if (allCrashes >= this.options.restart.crashLoopCount) {
      if (!this.inCrashLoop) {
        this.inCrashLoop = true;
        if (channels.crashLoop.hasSubscribers) channels.crashLoop.publish({ crashes: allCrashes, windowMs: this.options.restart.crashLoopWindow, nextDelayMs: delay });
        this.host.crashLoop(allCrashes, this.options.restart.crashLoopWindow, delay);
      }
    } else {
      this.inCrashLoop = false;
    }
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = undefined;
      if (slot.active && this.replacing) this.spawn(slot);
    }, delay);
  }

  /** The worker's app closed the server of `listener`: it gets none of its connections from now on. */
  private onUnlisten(worker: WorkerProcess, listener: number): void {
    if (this.dropIn !== undefined) {
      worker.dropInListeners.delete(listener);
      this.readyByListener.clear();
      if (worker.dropInListeners.size > 0) return;
    }
    // serve() mode has one server for every listener: closing it closes them all.
    this.retire(worker);
  }

  /**
   * The worker's app closed every server it had: it will take no connection again. It drains (its
   * open connections finish) while a replacement starts in its slot, after the crash backoff (an
   * app that keeps closing its server does not make a fork loop); not while the primary closes.
   */
  private retire(worker: WorkerProcess): void {
    if (worker.expectedExit || worker.state === 'exited') return;
    const slot = this.slots[worker.slot]!;
    this.host.recycle(this.info(worker), 'server-closed');
    void this.drain(worker, this.options.drainTimeout);
    if (!slot.active || !this.replacing || slot.worker !== worker) return;
    slot.restarts++;
    const delay = restartDelay(slot.crashes.record(), this.options.restart.initialDelay, this.options.restart.maxDelay);
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = undefined;
      if (slot.active && this.replacing && slot.worker === worker) this.spawn(slot);
    }, delay);
  }

  private rebuildReady(): void {
    this.readyByListener.clear();
    const ready: WorkerProcess[] = [];
    for (const w of this.workers.values()) if (w.state === 'ready') ready.push(w);
    ready.sort((a, b) => a.id - b.id);
    this.ready = ready;
  }

  /** Takes `worker` out of the pickable set and asks it to drain and exit; SIGKILL past the deadline. */
  drain(worker: WorkerProcess, timeout: number): Promise<void> {
    worker.expectedExit = true;
    if (worker.state === 'exited') return Promise.resolve();
    const wasReady = worker.state === 'ready';
    worker.state = 'draining';
    this.steering?.leave(worker);
    if (wasReady) {
      this.rebuildReady();
      this.steering?.rebalance(this.ready);
      if (this.options.policy.mode === 'primary') this.options.policy.leave?.(worker);
    }
    if (channels.drain.hasSubscribers) channels.drain.publish({ id: worker.id, pid: worker.pid });
    worker.post(createMessage('drain', { timeout }));
    return new Promise((resolve) => {
      // The worker enforces the deadline itself; the primary's SIGKILL is the backstop for a stuck one.
      const killTimer = setTimeout(() => worker.kill('SIGKILL'), timeout + 1000);
      worker.once('exit', () => {
        clearTimeout(killTimer);
        resolve();
      });
    });
  }

  /** Stops replacing crashed workers and cancels pending replacements. */
  stopReplacing(): void {
    this.replacing = false;
    for (const slot of this.slots) {
      if (slot.respawnTimer !== undefined) clearTimeout(slot.respawnTimer);
      slot.respawnTimer = undefined;
    }
  }

  restartsOf(worker: WorkerProcess): number {
    return this.slots[worker.slot]?.restarts ?? 0;
  }

  info(worker: WorkerProcess): WorkerInfo {
    return {
      id: worker.id,
      pid: worker.pid,
      state: worker.state,
      since: worker.state === 'ready' ? worker.readySince : worker.spawnedAt,
      connections: worker.connections,
      requests: worker.requests,
      restarts: this.restartsOf(worker),
      rss: worker.rss,
      instance: worker.slot,
      spawnedAt: worker.spawnedAt,
      eventLoopDelay: worker.eventLoopDelay,
      heapUsed: worker.heapUsed,
    };
  }
}
