/**
 * Preloaded into every worker `handoff start` forks (`--import`). A terminal's Ctrl-C and
 * systemd's stop signal every process of the group, workers included: a worker managed by the
 * primary leaves its shutdown to the primary's drain instead of dying mid-request. An app's own
 * handlers still run.
 */
if (process.env.HANDOFF_WORKER_ID !== undefined && typeof process.send === 'function') {
  const ignore = (): void => {};
  // handoff's own listener, not the app's: a worker hands a drain to an app that handles SIGTERM
  // itself (as that signal), and this one does not count as such (see @handoff/worker's signals.ts).
  (ignore as typeof ignore & Record<symbol, boolean>)[Symbol.for('handoff.own-signal-listener')] = true;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
}
export {};
