/**
 * Errors raised by @handoff/fdpass. They are `HandoffError`s: `instanceof HandoffError` (from
 * @handoff/protocol) holds for them through the shared `Symbol.for('handoff.error')` brand, without
 * this leaf package depending on protocol.
 */

const kHandoffError = Symbol.for('handoff.error');
const kFdpassError = Symbol.for('handoff.fdpass.error');

/** Codes of {@link HandoffFdpassError}. */
export const FdpassErrorCode = {
  /** `transport: 'native'` was asked for where the addon does not load (see `nativeStatus()`). */
  UNAVAILABLE: 'HANDOFF_ERR_FDPASS_UNAVAILABLE',
  /** An option is out of range or of the wrong type. */
  INVALID_OPTION: 'HANDOFF_ERR_FDPASS_INVALID_OPTION',
  /** `listen()` was given a server that is not listening (or has no fd: not Linux). */
  NOT_LISTENING: 'HANDOFF_ERR_FDPASS_NOT_LISTENING',
  /** A connection's `payload` is larger than `MAX_PAYLOAD_BYTES`. */
  PAYLOAD_TOO_LARGE: 'HANDOFF_ERR_FDPASS_PAYLOAD_TOO_LARGE',
} as const;

/** One of the values of {@link FdpassErrorCode}. */
export type FdpassErrorCode = (typeof FdpassErrorCode)[keyof typeof FdpassErrorCode];

/** An error of the fd transport. Switch on `code`. */
export class HandoffFdpassError extends Error {
  readonly code: FdpassErrorCode;

  constructor(code: FdpassErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'HandoffFdpassError';
    Object.defineProperty(this, kHandoffError, { value: true });
    Object.defineProperty(this, kFdpassError, { value: true });
  }

  /** Holds across two installed copies of this package, as `HandoffError`'s brand does. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kFdpassError] === true;
  }
}
