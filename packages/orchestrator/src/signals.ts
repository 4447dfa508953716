/** What the primary's signal handling drives. */
export interface SignalTarget {
  /** Drains and stops; resolves true when every worker finished its drain cleanly. */
  close(): Promise<boolean>;
  reload(): Promise<void>;
  /** A second Ctrl-C: kill every worker now. */
  killAll(): void;
  reportError(error: unknown): void;
}

/**
 * `handleSignals`: SIGTERM and SIGINT drain, then exit 0 (clean) or 1 (a worker was killed or
 * failed its drain); a second SIGINT kills the workers and exits 130; with `reloadOnSighup`,
 * SIGHUP reloads. Returns what removes the handlers again.
 */
export function installSignalHandlers(target: SignalTarget, reloadOnSighup: boolean): () => void {
  let interrupts = 0;
  const onClose = (signal: NodeJS.Signals) => (): void => {
    if (signal === 'SIGINT' && ++interrupts > 1) {
      // A second Ctrl-C: the user does not want to wait.
      target.killAll();
      process.exit(130);
    }
    void target.close().then(
      (clean) => process.exit(clean ? 0 : 1),
      () => process.exit(1),
    );
  };
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', onClose('SIGTERM')],
    ['SIGINT', onClose('SIGINT')],
  ];
  if (reloadOnSighup) handlers.push(['SIGHUP', () => void target.reload().catch((error: unknown) => target.reportError(error))]);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
