// Longer than most modules: what is left here is the wiring of one worker's events to the pool
// (each a few lines); slots and backoff, readiness, errors and the ready set live in their modules.
import type { PrimaryTransport } from '@handoff/fdpass';
import { createMessage, type HandoffError, type ListenProxy } from '@handoff/protocol';
import { channels, debug } from './diagnostics.js';
import type { Dispatcher } from './dispatcher.js';
import type { DropInBinder } from './drop-in.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { PrimaryEvents, WorkerInfo } from './events.js';
import { HealthMonitor, type RecycleReason } from './health.js';
import { proxyProtocolOf, type ResolvedOptions } from './options.js';
import { armReadyTimeout, whenReady } from './readiness.js';
import type { ReadySet } from './ready-set.js';
import { Slots, type CrashLoop, type Slot } from './slots.js';
import { AcceptSteering } from './steering.js';
import type { BoundListener } from './types.js';
import { reportWorkerErrors } from './worker-errors.js';
import { WorkerProcess } from './worker-process.js';

/** The primary's events about its workers: what the supervisor announces. */
export type WorkerEventName = Extract<keyof PrimaryEvents, `worker:${string}`>;

/** What the supervisor tells the primary. */
export interface SupervisorHost {
  /**
   * A worker's event, under its public name, for the primary to emit as it is: the one place where
   * a worker's events become the primary's (each `WorkerProcess` event is handled once, here).
   */
  announce<E extends WorkerEventName>(event: E, ...args: PrimaryEvents[E]): void;
  /** Kernel modes: connections a worker closed for want of a valid PROXY header, by code. */
  proxyRefused(counts: Readonly<Record<string, number>>): void;
  error(error: HandoffError): void;
}

/** How long a balanced-shared probe waits for its `pong` before it is dropped, in ms. */
const PROBE_TIMEOUT_MS = 30_000;

/** What the supervisor works with, made by the primary before it: passed in, never patched in later. */
export interface SupervisorParts {
  /** Every listener (drop-in mode appends to it as apps listen). */
  readonly listeners: readonly BoundListener[];
  /** The ready workers, which the dispatcher picks from. */
  readonly ready: ReadySet;
  /** Mode primary (and reuseport while starting): places connections. */
  readonly dispatcher: Dispatcher | undefined;
  /** With the dispatcher: the transport its connections cross on (each worker gets a link). */
  readonly transport: PrimaryTransport | undefined;
  /** Drop-in mode: binds what the workers' apps listen on. */
  readonly dropIn: DropInBinder | undefined;
}

/**
 * Keeps the pool of worker processes: forks each into its slot, introduces it to the listeners,
 * keeps the ready set, replaces the ones that crash or stop taking connections (backoff and crash
 * loops: `Slots`; readiness: `readiness.ts`; errors: `worker-errors.ts`), and drains them on
 * request. A worker's state changes only through its own transitions (`WorkerProcess`).
 */
export class Supervisor {
  private nextWorkerId = 1;
  /** The worker count the primary aims at (`workers`, then each `scale()`): each new worker's `HANDOFF_INSTANCES`. */
  private target: number;
  private readonly slots: Slots;
  private readonly workers = new Map<number, WorkerProcess>();
  /** Balanced shared mode only: who accepts on the shared sockets. */
  private readonly steering: AcceptSteering<WorkerProcess> | undefined;
  private readonly ready: ReadySet;

  constructor(
    private readonly options: ResolvedOptions,
    private readonly host: SupervisorHost,
    private readonly parts: SupervisorParts,
  ) {
    this.ready = parts.ready;
    this.target = options.workers;
    this.slots = new Slots(options.restart, (loop) => {
      if (channels.crashLoop.hasSubscribers) channels.crashLoop.publish(loop);
      host.announce('worker:crash-loop', loop);
    });
    const policy = options.policy;
    if (policy.mode === 'shared' && policy.balance !== undefined) {
      this.steering = new AcceptSteering(policy.balance, {
        rearm: (worker, limit) => this.sendListeners(worker, limit),
        tighten: (worker, limit) => worker.post(createMessage('limit', { open: limit })),
        // Answered from the worker's event loop: a busy one answers late. Bounded so that a stuck
        // worker's probes do not pile up (the heartbeat kills it meanwhile).
        probe: (worker, seq) =>
          void worker.request('ping', PROBE_TIMEOUT_MS).then((result) => {
            if (result.status === 'answered' && worker.state === 'ready') this.steering?.pong(worker, seq, this.ready.all);
          }),
      }, () => this.ready.all);
      this.steering.start();
    }
  }

  /** Every live worker, ascending id. */
  all(): WorkerProcess[] {
    return [...this.workers.values()];
  }

  get slotCount(): number {
    return this.slots.activeCount;
  }

  /** Sets the worker count the primary aims at, before a scale adds or removes slots: workers forked from now on are told it. */
  aim(count: number): void {
    this.target = count;
  }

  /** Adds a slot (the lowest free one first: active slots are 0..n-1) and forks its worker. */
  addSlot(): WorkerProcess {
    return this.spawn(this.slots.add());
  }

  /** Removes the newest active slot; returns its worker (the caller drains it). */
  removeSlot(): WorkerProcess | undefined {
    return this.slots.removeNewest();
  }

  /** The id the next forked worker gets (ids only grow). */
  get nextId(): number {
    return this.nextWorkerId;
  }

  /** Forks a worker into `slot` (to replace `replaces` gracefully, if given). */
  private spawn(slot: Slot, replaces?: WorkerProcess): WorkerProcess {
    const worker = new WorkerProcess(
      {
        id: this.nextWorkerId++,
        slot: slot.index,
        instances: this.target,
        countsDispatch: this.options.policy.mode === 'primary',
        transport: this.parts.dispatcher === undefined ? undefined : this.parts.transport,
        links: this.parts.dispatcher,
        replaces,
      },
      this.options,
    );
    this.slots.occupy(slot, worker);
    this.workers.set(worker.id, worker);
    this.wire(worker);
    if (channels.spawn.hasSubscribers) channels.spawn.publish({ id: worker.id, pid: worker.pid });
    this.host.announce('worker:spawn', this.info(worker));
    return worker;
  }

  /**
   * Replaces `old` gracefully: forks its successor into the same slot, waits until it is ready, then
   * drains `old`. If the successor fails to become ready, `old` keeps serving and this rejects; the
   * failed successor is not respawned (its exit is no crash of the slot).
   */
  async succeed(old: WorkerProcess): Promise<WorkerProcess> {
    const slot = this.slots.of(old);
    old.expectExit();
    const fresh = this.spawn(slot, old);
    try {
      await whenReady(fresh, this.options);
    } catch (error) {
      // The primary closes (it drains the successor too): nothing to keep in service, nobody to kill.
      if (this.closing) throw new HandoffPrimaryError(PrimaryErrorCode.ABORTED, 'reload aborted: the primary is closing', { cause: error });
      // The new code does not start: the old worker stays in its slot and keeps serving.
      fresh.expectExit();
      fresh.kill('SIGKILL');
      this.slots.occupy(slot, old);
      old.keepInService();
      throw error;
    }
    await this.drain(old, this.options.drainTimeout);
    return fresh;
  }

  /** Resolves when `worker` is ready; rejects with why it never will be (see `readiness.ts`). */
  whenReady(worker: WorkerProcess): Promise<void> {
    return whenReady(worker, this.options);
  }

  private wire(worker: WorkerProcess): void {
    const cancelReadyTimeout = armReadyTimeout(worker, this.options, (error) => this.host.error(error));
    reportWorkerErrors(worker, (error) => this.host.error(error));
    worker.on('hello', () => this.introduce(worker));
    worker.on('output', (stream, chunk) => this.host.announce('worker:output', this.info(worker), { stream, chunk }));
    worker.on('proxy-refused', (counts) => this.host.proxyRefused(counts));
    worker.on('draining', (phase, open) => {
      // A drain the primary did not ask for: the worker was signalled on its own (SIGTERM to its
      // pid). It takes no more connections; replace it.
      if (phase === 'started' && !worker.expectedExit) this.retire(worker, 'signal');
      this.host.announce('worker:drain', this.info(worker), { phase, open });
    });
    worker.on('bind', (message) => {
      if (this.parts.dropIn !== undefined) this.parts.dropIn.bind(worker, message);
      else this.host.error(new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, `worker ${worker.id} (pid ${worker.pid}) asked to bind ${JSON.stringify(message.address)}, but the primary runs without dropIn`));
    });
    worker.on('bound', () => {
      this.ready.listenersChanged();
      this.parts.dispatcher?.flushQueue();
    });
    worker.on('unlisten', (listener) => this.onUnlisten(worker, listener));
    worker.on('return', (message, handle) => {
      if (this.parts.dispatcher !== undefined) this.parts.dispatcher.returned(worker, message, handle);
      else handle.close();
    });
    new HealthMonitor(worker, this.options, {
      unresponsive: (w, stuckMs) => {
        this.host.announce('worker:unresponsive', this.info(w), { stuckMs });
        // Its loop is stuck: it cannot drain. Its pending connections are re-dispatched on exit;
        // from now on it gets no new ones.
        this.leave(w, w.declareUnresponsive());
        w.kill('SIGKILL');
      },
      recycle: (w, reason) => {
        this.host.announce('worker:recycle', this.info(w), { reason });
        this.succeed(w).catch((error: HandoffError) => this.host.error(error));
      },
    });
    worker.on('ready', () => {
      cancelReadyTimeout();
      this.ready.rebuild(this.workers.values());
      if (this.options.policy.mode === 'primary') this.options.policy.join?.(worker);
      if (channels.ready.hasSubscribers) channels.ready.publish({ id: worker.id, pid: worker.pid });
      this.host.announce('worker:ready', this.info(worker));
      this.parts.dispatcher?.flushQueue();
    });
    if (this.steering !== undefined) {
      const steering = this.steering;
      const steer = (): void => {
        if (worker.state === 'ready') steering.report(worker, worker.paused, this.ready.all);
      };
      worker.on('load', steer);
      worker.on('ready', steer);
    }
    worker.once('exit', (code, signal) => {
      cancelReadyTimeout();
      this.onExit(worker, code, signal);
    });
  }

  /** Answers `hello`: tells the worker about every listener. */
  private introduce(worker: WorkerProcess): void {
    // Drop-in: the worker's app says what it listens on; it gets only those listeners.
    if (this.options.dropIn !== undefined) return;
    this.sendListeners(worker, this.steering?.armed(worker, this.ready.all));
  }

  /** Sends `worker` every listener (with its handle in mode shared): to attach, or to re-arm. */
  private sendListeners(worker: WorkerProcess, limit: number | undefined): void {
    const listeners = this.parts.listeners;
    for (const listener of listeners) {
      if (this.options.dropIn !== undefined && !worker.dropInListeners.has(listener.index)) continue;
      const message = createMessage('listen', { listener: listener.index, listeners: listeners.length, mode: listener.mode, address: listener.address, backlog: listener.option.backlog });
      if (limit !== undefined) (message as { limit?: number }).limit = limit;
      // Kernel modes: the worker accepts, so the worker reads the PROXY header.
      const proxy = listener.mode === 'primary' ? undefined : proxyProtocolOf(listener.option);
      if (proxy !== undefined) (message as { proxy?: ListenProxy }).proxy = proxy.trusted === undefined ? { timeout: proxy.timeout, maxHeaderBytes: proxy.maxHeaderBytes } : { timeout: proxy.timeout, maxHeaderBytes: proxy.maxHeaderBytes, trusted: proxy.trusted };
      worker.post(message, listener.mode === 'shared' ? listener.sharedHandle : undefined);
    }
  }

  /** Takes `worker` out of the ready set, the steering and the policy (it is draining or gone). */
  private leave(worker: WorkerProcess, wasReady: boolean): void {
    this.steering?.leave(worker);
    if (wasReady) this.ready.rebuild(this.workers.values());
    // Fewer workers share the connections: a paused one may be under the new limit.
    this.steering?.rebalance(this.ready.all);
    if (wasReady && this.options.policy.mode === 'primary') this.options.policy.leave?.(worker);
  }

  private onExit(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.id);
    this.leave(worker, this.ready.includes(worker));
    this.parts.dispatcher?.workerGone(worker);
    // Whether its slot counts it a crash is the worker's own table (ENDINGS): a successor that never
    // became ready failed its replacement (settled there), not its slot.
    const expected = !worker.exitIsCrash;
    if (channels.exit.hasSubscribers) channels.exit.publish({ id: worker.id, pid: worker.pid, code, signal, expected });
    debug('worker %d (pid %d) exited: code %s signal %s expected %s', worker.id, worker.pid, code, signal, expected);
    this.host.announce('worker:exit', this.info(worker), { code, signal, expected });
    if (!expected) this.slots.refill(worker, 'crashed', (slot) => this.spawn(slot));
  }

  /**
   * The worker's app closed the server of `listener`: it gets none of its connections from now on.
   * Drop-in mode: the worker lives on, as a Node process whose last server closed does (it ends once
   * it has nothing left to do) and may listen again (a config reload); the binder closes a listener
   * no worker holds (see drop-in.ts).
   */
  private onUnlisten(worker: WorkerProcess, listener: number): void {
    if (this.options.dropIn !== undefined) {
      worker.dropInListeners.delete(listener);
      this.ready.listenersChanged();
      return;
    }
    // serve() mode has one server for every listener: closing it closes them all.
    this.retire(worker, 'server-closed');
  }

  /**
   * The worker will take no connection again: its app closed every server it had, or it drains on
   * its own (signalled alone). It drains (its open connections finish) while a replacement starts
   * in its slot, after the crash backoff (an app that keeps doing it makes no fork loop); not while
   * the primary closes.
   */
  private retire(worker: WorkerProcess, reason: 'server-closed' | 'signal'): void {
    if (worker.expectedExit || worker.state === 'exited') return;
    this.host.announce('worker:recycle', this.info(worker), { reason });
    void this.drain(worker, this.options.drainTimeout);
    this.slots.refill(worker, 'retired', (slot) => this.spawn(slot));
  }

  /** Takes `worker` out of the pickable set and asks it to drain and exit; SIGKILL past the deadline. */
  drain(worker: WorkerProcess, timeout: number): Promise<void> {
    if (worker.state === 'exited') {
      worker.expectExit();
      return Promise.resolve();
    }
    // A worker still starting may not listen to its channel yet (the drain would be lost, and it
    // killed at the deadline): it hears it again once it says hello.
    if (worker.state === 'starting') worker.once('hello', () => worker.post(createMessage('drain', { timeout })));
    this.leave(worker, worker.beginDrain());
    if (channels.drain.hasSubscribers) channels.drain.publish({ id: worker.id, pid: worker.pid });
    // Connections between requests go to the other workers (the dispatcher places them), unless
    // the primary closes: then nobody would take them.
    const move = this.options.moveOnDrain && !this.closing && this.parts.dispatcher !== undefined;
    worker.postAfterConnections(createMessage('drain', move ? { timeout, move } : { timeout }));
    return new Promise((resolve) => {
      // The worker enforces the deadline itself; the primary's SIGKILL is the backstop for a stuck one.
      const killTimer = setTimeout(() => worker.kill('SIGKILL'), timeout + 1000);
      worker.once('exit', () => {
        clearTimeout(killTimer);
        resolve();
      });
    });
  }

  /** Set by `stopReplacing()`: the primary is closing. */
  private closing = false;

  /** Stops replacing workers that go and cancels pending replacements (the primary is closing). */
  stopReplacing(): void {
    this.closing = true;
    this.slots.stopRefilling();
    this.steering?.stop();
  }

  /** A read-only snapshot of `worker`, as the primary's API and events give it. */
  info(worker: WorkerProcess): WorkerInfo {
    return {
      id: worker.id,
      pid: worker.pid,
      state: worker.state,
      since: worker.state === 'ready' ? worker.readySince : worker.spawnedAt,
      connections: worker.connections,
      requests: worker.requests,
      restarts: this.slots.of(worker).restarts,
      rss: worker.rss,
      instance: worker.slot,
      spawnedAt: worker.spawnedAt,
      eventLoopDelay: worker.eventLoopDelay,
      eventLoopDelayP50: worker.eventLoopDelayP50,
      heapUsed: worker.heapUsed,
      // The shared modes' link carries only the connections a drain moves: no transport of theirs.
      transport: this.options.policy.mode === 'shared' ? null : (worker.linkTransport ?? null),
    };
  }
}
