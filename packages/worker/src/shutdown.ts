import type { Server } from 'node:net';
import { debuglog } from 'node:util';
import { createMessage } from '@handoff/protocol';
import { drainConnections } from './drain.js';
import type { AcceptGate } from './gate.js';
import type { ConnectionMover } from './move.js';
import type { Outbox } from './outbox.js';
import type { Reporter } from './reporter.js';
import type { ServedServer } from './served.js';
import { deliverSigtermToApp } from './signals.js';
import type { ConnectionTracker } from './tracker.js';

const debug = debuglog('handoff');

/** How long the worker waits for a server to emit `'close'` once its connections are done, in ms. */
const CLOSE_EVENT_BOUND_MS = 100;

type Hook = () => unknown;

/** What the way out reaches. */
export interface ShutdownParts {
  readonly gate: AcceptGate;
  readonly reporter: Reporter;
  readonly outbox: Outbox;
  readonly tracker: ConnectionTracker;
  readonly sessions: ReadonlySet<{ close(): void; destroyed: boolean }>;
  /** The app's servers, each as served here. */
  readonly served: ReadonlyMap<Server, ServedServer>;
  /** Gives connections between requests back to the primary, in a drain that moves them. */
  readonly mover: ConnectionMover;
}

/**
 * A worker's way out, whatever starts it (the primary's `drain` or `shutdown`, a signal, the
 * primary's death, a listener that cannot attach): stop taking connections, drain until the
 * deadline, close the app's servers, run the app's hooks, exit.
 */
export class Shutdown {
  /** True once the way out began: nothing new is taken or announced. */
  started = false;
  private readonly drainHooks: Hook[] = [];
  private readonly shutdownHooks: Hook[] = [];

  constructor(private readonly parts: ShutdownParts) {}

  onDrain(hook: Hook): void {
    this.drainHooks.push(hook);
  }

  onShutdown(hook: Hook): void {
    this.shutdownHooks.push(hook);
  }

  /**
   * Stops taking connections, drains until `deadline`, closes the app's servers (they emit
   * `'close'`, as a listening server closed gracefully does), runs the hooks and exits. With
   * `move`, connections between requests go back to the primary first (before the app hears of
   * the drain: its own `server.close()` would close the idle ones), and busy ones after their
   * response. Idempotent: a `shutdown` during a drain moves the deadline closer.
   */
  async exit(deadline: number, code: number, move = false): Promise<void> {
    if (this.started) {
      if (deadline < this.deadline) this.forceAt(deadline);
      return;
    }
    this.started = true;
    this.deadline = deadline;
    this.parts.gate.close();
    this.parts.outbox.send(createMessage('draining', { phase: 'started', open: this.parts.tracker.sockets.size }));
    const servers = [...this.parts.served.keys()];
    const mover = this.parts.mover;
    const drained = drainConnections({ servers, tracker: this.parts.tracker, sessions: this.parts.sessions, ...(move ? { move: (socket) => mover.move(socket) } : {}) }, deadline);
    // The app shuts down on its own and decides when it is done, as it would alone: it closed every
    // server it had before this drain (a graceful-shutdown library on SIGTERM), or it handles
    // SIGTERM itself (NestJS's enableShutdownHooks(), terminus) and gets the drain as that signal.
    const served = [...this.parts.served.values()];
    const closedItself = served.some((s) => s.closedByApp) && served.every((s) => s.closedByApp || !s.attached);
    const signalled = !closedItself && deliverSigtermToApp();
    const appShutsDown = closedItself || signalled;
    await runHooks(this.drainHooks);
    await Promise.race([drained, this.forced]);
    // What moved must have left this process before it ends.
    await mover.sent();
    this.parts.outbox.send(createMessage('draining', { phase: 'idle', open: this.parts.tracker.sockets.size }));
    // A signalled app closes its servers itself: closing them under it would fail its own close().
    if (!signalled) await Promise.all(served.map((s) => s.closeForExit(CLOSE_EVENT_BOUND_MS)));
    await runHooks(this.shutdownHooks);
    this.parts.reporter.stop();
    if (appShutsDown) {
      // Its own cleanup (closing a database after its server closed) may still run: the process
      // ends when that work is done, as a listening one does, the channel no longer holding it
      // open; at the deadline at the latest.
      (process as { channel?: { unref?(): void } }).channel?.unref?.();
      setTimeout(() => process.exit(code), Math.max(0, this.deadline - Date.now())).unref();
      return;
    }
    // Let the last messages reach the primary before the channel closes with the process.
    setImmediate(() => process.exit(code));
  }

  private deadline = Number.POSITIVE_INFINITY;
  private forceResolve: (() => void) | undefined;
  private readonly forced = new Promise<void>((resolve) => {
    this.forceResolve = resolve;
  });

  private forceAt(deadline: number): void {
    this.deadline = deadline;
    setTimeout(() => {
      for (const socket of this.parts.tracker.sockets) socket.destroy();
      this.forceResolve?.();
    }, Math.max(0, deadline - Date.now()));
  }
}

async function runHooks(hooks: readonly Hook[]): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (error) {
      debug('hook failed: %o', error);
    }
  }
}
