import { debuglog } from 'node:util';
import { WorkerEnv } from '@handoff/protocol';

const debug = debuglog('handoff');

/**
 * Marks handoff's own listeners on process signals (the worker's, the `handoff` command's preload),
 * so that a worker can tell whether the app itself handles a signal. A `Symbol.for` key: the
 * preload of the `handoff` command and an app's own copy of `@handoff/worker` agree on it.
 */
export const kOwnSignalListener = Symbol.for('handoff.own-signal-listener');

type Listener = (...args: unknown[]) => void;

/** How long a worker signalled on its own drains when its primary did not say (`HANDOFF_DRAIN_TIMEOUT_MS`), in ms. */
const DEFAULT_SELF_DRAIN_MS = 8000;

/**
 * A terminal's Ctrl-C and systemd's control-group kill signal every process of the group, workers
 * too: a worker does not die of SIGINT / SIGTERM, which would cut its in-flight requests while the
 * primary drains. It drains instead (`drain` with the primary's `drainTimeout` as deadline; the
 * primary, signalled too, drains every worker the same way; signalled alone, it is replaced). An
 * app with its own handler for the signal decides itself, as it would alone.
 */
export function drainOnSignals(drain: (deadline: number) => void): void {
  const timeout = Number(process.env[WorkerEnv.DRAIN_TIMEOUT_MS]);
  const ms = Number.isFinite(timeout) && timeout >= 0 ? timeout : DEFAULT_SELF_DRAIN_MS;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      // handoff's own listeners (this one, the `handoff` command's preload) are not the app's.
      if (appHandles(signal)) return;
      debug('worker %d: %s, draining', process.pid, signal);
      drain(Date.now() + ms);
    };
    process.on(signal, markOwnSignalListener(onSignal));
  }
}

/** Marks `listener` as handoff's own (not the app's) and returns it. */
export function markOwnSignalListener<T extends (...args: never[]) => unknown>(listener: T): T {
  (listener as T & { [kOwnSignalListener]?: boolean })[kOwnSignalListener] = true;
  return listener;
}

/** True when the app has a listener of its own for `signal` (a graceful-shutdown library, NestJS's `enableShutdownHooks()`). */
export function appHandles(signal: NodeJS.Signals): boolean {
  return process.listeners(signal).some((listener) => (listener as Listener & { [kOwnSignalListener]?: boolean })[kOwnSignalListener] !== true);
}

/**
 * A drain the primary started reaches an app that handles SIGTERM itself as that SIGTERM, the
 * signal its process manager would send it alone: its own shutdown (`app.close()` and its hooks,
 * terminus's cleanup) runs. Emitted, not sent: handoff's own listeners do nothing with it. Returns
 * whether the app had a listener for it.
 */
export function deliverSigtermToApp(): boolean {
  if (!appHandles('SIGTERM')) return false;
  process.emit('SIGTERM', 'SIGTERM');
  return true;
}
