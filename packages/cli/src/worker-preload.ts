/**
 * Preloaded into every worker `handoff start` forks (`--import`). A terminal's Ctrl-C and
 * systemd's stop signal every process of the group, workers included: a worker managed by the
 * primary leaves its shutdown to the primary's drain instead of dying mid-request. An app's own
 * handlers still run.
 */
if (process.env.HANDOFF_WORKER_ID !== undefined && typeof process.send === 'function') {
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
}
export {};
