import { ExitCode } from './errors.js';
import { scaleTo, type RunningPrimary } from './control/handlers.js';

/** The signals `handoff start` answers, as gunicorn users expect (USR2: an upgrade, as nginx and unicorn do). */
export const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR2'];

/**
 * Answers the signals of a running `handoff start`: HUP reloads, TERM and INT drain (a second INT
 * kills the workers: `forced(130)`), TTIN and TTOU add and remove a worker, USR2 upgrades the
 * primary itself (see upgrade.ts). Returns the removal.
 */
export function handleSignals(run: RunningPrimary, forced: (code: number) => void): () => void {
  const { primary } = run;
  let interrupts = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (signal === 'SIGINT' && ++interrupts > 1) {
      run.log('forced', 'second Ctrl-C: killing the workers');
      for (const w of primary.workers()) {
        try {
          process.kill(w.pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      forced(ExitCode.FORCED);
      return;
    }
    if (signal === 'SIGINT' || signal === 'SIGTERM') {
      void run.stop(undefined);
      return;
    }
    if (signal === 'SIGUSR2') {
      // Refusals and failures are logged by the upgrade; this primary serves on.
      run.upgrade({}, () => {}).catch(() => {});
      return;
    }
    if (primary.state !== 'running' && primary.state !== 'reloading') return;
    if (signal === 'SIGHUP') {
      primary.reload().catch(() => {
        // Logged by the reload:end event; the old workers keep serving.
      });
      return;
    }
    const target = run.target + (signal === 'SIGTTIN' ? 1 : -1);
    if (target < 1) {
      run.log('scale', 'SIGTTOU ignored: at least 1 worker must run');
      return;
    }
    scaleTo(run, target).catch((error: Error) => run.log('error', `scale failed: ${error.message}`));
  };
  for (const s of SIGNALS) process.on(s, onSignal);
  return () => {
    for (const s of SIGNALS) process.off(s, onSignal);
  };
}
