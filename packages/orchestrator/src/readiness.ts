import type { HandoffError } from '@handoff/protocol';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * Kills `worker` if it is not ready within `readyTimeout` (after telling `onTimeout`); returns the
 * cancel. Its exit then rejects `whenReady` with `HANDOFF_ERR_READY_TIMEOUT`.
 */
export function armReadyTimeout(worker: WorkerProcess, options: ResolvedOptions, onTimeout: (error: HandoffPrimaryError) => void): () => void {
  const timer = setTimeout(() => {
    if (worker.state !== 'starting') return;
    worker.markReadyTimedOut();
    onTimeout(
      new HandoffPrimaryError(PrimaryErrorCode.READY_TIMEOUT, `worker ${worker.id} (pid ${worker.pid}) did not become ready within ${options.readyTimeout} ms; it is killed`, {
        details: { stderr: worker.stderr() },
      }),
    );
    worker.kill('SIGKILL');
  }, options.readyTimeout);
  timer.unref();
  return () => clearTimeout(timer);
}

/**
 * Resolves when `worker` is ready; rejects with `HANDOFF_ERR_WORKER_START_FAILED` if it exits
 * first, `HANDOFF_ERR_READY_TIMEOUT` if it was killed for taking longer than `readyTimeout`, or the
 * protocol error it was refused with.
 */
export function whenReady(worker: WorkerProcess, options: ResolvedOptions): Promise<void> {
  if (worker.state === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      worker.off('exit', onExit);
      resolve();
    };
    const onExit = (): void => {
      worker.off('ready', onReady);
      reject(startFailure(worker, options));
    };
    if (worker.state === 'exited') {
      onExit();
      return;
    }
    worker.once('ready', onReady);
    worker.once('exit', onExit);
  });
}

/** Why `w` never became ready, as the user must read it: its exit, its last stderr lines. */
function startFailure(w: WorkerProcess, options: ResolvedOptions): HandoffError {
  // Refused for its protocol version: that, not its exit, is what the user must fix.
  if (w.refusal !== undefined) return w.refusal;
  const details = { exitCode: w.exitCode, signal: w.signalCode, stderr: w.stderr() };
  const tail = `Its last stderr lines:\n${w.stderr() || '(none)'}`;
  if (w.readyTimedOut) {
    return new HandoffPrimaryError(
      PrimaryErrorCode.READY_TIMEOUT,
      `worker ${w.id} (pid ${w.pid}) was not ready within ${options.readyTimeout} ms and was killed; raise readyTimeout, or call ready() sooner. ${tail}`,
      { details },
    );
  }
  const how = w.signalCode !== null ? `signal ${w.signalCode}` : `exit code ${w.exitCode}`;
  return new HandoffPrimaryError(
    PrimaryErrorCode.WORKER_START_FAILED,
    `worker ${w.id} (pid ${w.pid}) exited before it was ready (${how}); does ${options.worker} call serve() from @handoff/worker? ${tail}`,
    { details },
  );
}
