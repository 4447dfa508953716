import { HandoffError } from '@handoff/protocol';

/** Codes of {@link HandoffMetricsError}: the same codes the orchestrator uses for the same failures. */
export const MetricsErrorCode = {
  /** `serveMetrics()` got an option that is missing, unknown, of the wrong type or out of range; the message names it. */
  INVALID_OPTION: 'HANDOFF_ERR_INVALID_OPTION',
  /** The metrics port is taken by another process. */
  PORT_IN_USE: 'HANDOFF_ERR_PORT_IN_USE',
  /** The metrics address could not be bound (permission, an address this host does not have). */
  LISTEN_FAILED: 'HANDOFF_ERR_LISTEN_FAILED',
} as const;

/** One of the values of {@link MetricsErrorCode}. */
export type MetricsErrorCode = (typeof MetricsErrorCode)[keyof typeof MetricsErrorCode];

/** An error of `@handoff/metrics`: a `HandoffError` with a stable `code`. */
export class HandoffMetricsError extends HandoffError {
  override readonly code: MetricsErrorCode;

  constructor(code: MetricsErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
  }
}
