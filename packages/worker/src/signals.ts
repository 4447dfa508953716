/**
 * Marks handoff's own listeners on process signals (the worker's, the `handoff` command's preload),
 * so that a worker can tell whether the app itself handles a signal. A `Symbol.for` key: the
 * preload of the `handoff` command and an app's own copy of `@handoff/worker` agree on it.
 */
export const kOwnSignalListener = Symbol.for('handoff.own-signal-listener');

type Listener = (...args: unknown[]) => void;

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
