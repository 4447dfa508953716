import { HandoffProtocolError, isProtocolErrorCode, ProtocolErrorCode, type HandoffError } from '@handoff/protocol';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { WorkerProcess } from './worker-process.js';

/**
 * Turns what goes wrong between the primary and `worker` into typed errors for `report`: a message
 * it sent that does not decode, one of ours it refused, a listener it could not attach. A worker
 * on another protocol version cannot be talked to: it is refused once and killed (its slot then
 * waits the longest restart delay, see Slots).
 */
export function reportWorkerErrors(worker: WorkerProcess, report: (error: HandoffError) => void): void {
  worker.on('protocol-error', (error) => {
    if (error.code !== ProtocolErrorCode.VERSION) {
      report(error);
      return;
    }
    // Its later messages are just as foreign: refused once.
    const refusal = new HandoffProtocolError(ProtocolErrorCode.VERSION, `worker ${worker.id} (pid ${worker.pid}) was refused: ${error.message}`, error.received, { cause: error });
    if (!worker.refuse(refusal)) return;
    report(refusal);
    worker.kill('SIGKILL');
  });
  worker.on('worker-error', (code, message) =>
    report(
      // A message the worker refused keeps its protocol code, so users can tell it from a failed listen.
      isProtocolErrorCode(code)
        ? new HandoffProtocolError(code, `worker ${worker.id} (pid ${worker.pid}) refused a message from the primary: ${message}`)
        : new HandoffPrimaryError(PrimaryErrorCode.LISTEN_FAILED, `worker ${worker.id}: ${code}: ${message}`),
    ),
  );
}
