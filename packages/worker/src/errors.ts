import { HandoffError } from '@handoff/protocol';

/** Codes of {@link HandoffWorkerError}. */
export const WorkerErrorCode = {
  /** `serve()` was called twice in one worker process. */
  ALREADY_SERVING: 'HANDOFF_ERR_ALREADY_SERVING',
  /** `serve()` was given something that is not a `net.Server` (http, https, http2, tls, net). */
  INVALID_SERVER: 'HANDOFF_ERR_INVALID_SERVER',
  /** `serve()` got an option it does not know, or of the wrong type; the message names it. */
  INVALID_OPTION: 'HANDOFF_ERR_INVALID_OPTION',
  /** The worker could not attach to a listener the primary sent. */
  LISTEN_FAILED: 'HANDOFF_ERR_LISTEN_FAILED',
} as const;

/** One of the values of {@link WorkerErrorCode}. */
export type WorkerErrorCode = (typeof WorkerErrorCode)[keyof typeof WorkerErrorCode];

/** An error raised by `@handoff/worker`: switch on its `code`. */
export class HandoffWorkerError extends HandoffError {
  override readonly code: WorkerErrorCode;

  constructor(code: WorkerErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
  }
}
