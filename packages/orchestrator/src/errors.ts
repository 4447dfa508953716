import { HandoffError } from '@handoff/protocol';

/** Codes of {@link HandoffPrimaryError}: every error the primary raises. Switch on these. */
export const PrimaryErrorCode = {
  /** An option is missing, of the wrong type or out of range; the message names it and says what to pass. */
  INVALID_OPTION: 'HANDOFF_ERR_INVALID_OPTION',
  /** A port to listen on is taken by another process. */
  PORT_IN_USE: 'HANDOFF_ERR_PORT_IN_USE',
  /** A listener could not be bound (permission, bad address). */
  LISTEN_FAILED: 'HANDOFF_ERR_LISTEN_FAILED',
  /** Policy `reusePort()` on a runtime or OS without `SO_REUSEPORT` support in Node. */
  REUSEPORT_UNSUPPORTED: 'HANDOFF_ERR_REUSEPORT_UNSUPPORTED',
  /** A worker did not say it was ready within `readyTimeout`. */
  READY_TIMEOUT: 'HANDOFF_ERR_READY_TIMEOUT',
  /** A worker exited before it became ready (threw at import, called process.exit…). */
  WORKER_START_FAILED: 'HANDOFF_ERR_WORKER_START_FAILED',
  /** `start()` on a primary that is not new, or an operation on a closed primary. */
  INVALID_STATE: 'HANDOFF_ERR_INVALID_STATE',
  /** The operation was aborted through its `AbortSignal`. */
  ABORTED: 'HANDOFF_ERR_ABORTED',
  /** Drop-in mode: the apps asked the primary to bind more addresses than it binds for them (`MAX_DROP_IN_LISTENERS`). */
  TOO_MANY_LISTENERS: 'HANDOFF_ERR_TOO_MANY_LISTENERS',
} as const;

/** One of the values of {@link PrimaryErrorCode}. */
export type PrimaryErrorCode = (typeof PrimaryErrorCode)[keyof typeof PrimaryErrorCode];

/** An error raised by the primary. Extra facts about a failed worker ride along in `details`. */
export class HandoffPrimaryError extends HandoffError {
  override readonly code: PrimaryErrorCode;
  /** For worker failures: its exit code or signal and the last lines it wrote to stderr. */
  readonly details: { readonly exitCode?: number | null; readonly signal?: string | null; readonly stderr?: string } | undefined;

  constructor(code: PrimaryErrorCode, message: string, options?: ErrorOptions & { details?: HandoffPrimaryError['details'] }) {
    super(code, message, options);
    this.code = code;
    this.details = options?.details;
  }
}
