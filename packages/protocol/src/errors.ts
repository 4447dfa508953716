/**
 * Errors raised by the handoff protocol, and the base class every handoff package shares.
 *
 * `instanceof HandoffError` holds across two installed copies of a handoff package: the class is
 * branded with a `Symbol.for` key that every copy agrees on (as `@fastify/error` does).
 */

const kHandoffError = Symbol.for('handoff.error');

/** Base class of every error a handoff user can meet. Switch on `code`, never on `message`. */
export class HandoffError extends Error {
  /** A stable, documented identifier such as `HANDOFF_ERR_PORT_IN_USE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, kHandoffError, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === HandoffError) {
      return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kHandoffError] === true;
    }
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** Codes of {@link HandoffProtocolError}. */
export const ProtocolErrorCode = {
  /** A value on the channel claimed to be a handoff message but its shape is wrong. */
  MALFORMED: 'HANDOFF_ERR_PROTOCOL_MALFORMED',
  /** A message of a type this version does not know. */
  UNKNOWN_TYPE: 'HANDOFF_ERR_PROTOCOL_UNKNOWN_TYPE',
  /** The peer speaks another protocol version. */
  VERSION: 'HANDOFF_ERR_PROTOCOL_VERSION',
  /** A message that must carry a handle arrived without one (or one that must not, with one). */
  HANDLE: 'HANDOFF_ERR_PROTOCOL_HANDLE',
  /** A field is larger than the protocol allows. */
  OVERSIZED: 'HANDOFF_ERR_PROTOCOL_OVERSIZED',
  /** A valid message in the wrong direction (a worker's message sent to a worker) or the wrong state. */
  UNEXPECTED: 'HANDOFF_ERR_PROTOCOL_UNEXPECTED',
  /** The IPC channel is closed: the message was not sent. */
  CHANNEL_CLOSED: 'HANDOFF_ERR_CHANNEL_CLOSED',
  /** The handle to send was already closed. */
  HANDLE_CLOSED: 'HANDOFF_ERR_HANDLE_CLOSED',
} as const;

/** One of the values of {@link ProtocolErrorCode}. */
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

const PROTOCOL_CODES: ReadonlySet<string> = new Set(Object.values(ProtocolErrorCode));

/** Whether `code` (e.g. from a peer's `error` message) is one of {@link ProtocolErrorCode}. */
export function isProtocolErrorCode(code: unknown): code is ProtocolErrorCode {
  return typeof code === 'string' && PROTOCOL_CODES.has(code);
}

/**
 * A message on the IPC channel that the protocol refuses, or a send that could not happen.
 * `received` holds what arrived, for diagnosis.
 */
export class HandoffProtocolError extends HandoffError {
  override readonly code: ProtocolErrorCode;
  /** The value that arrived on the channel, when the error is about an incoming message. */
  readonly received: unknown;

  constructor(code: ProtocolErrorCode, message: string, received?: unknown, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
    this.received = received;
  }
}

/** Wraps anything thrown into a {@link HandoffError} (kept as `cause`), leaving handoff errors as they are. */
export function toHandoffError(error: unknown, code: string, message: string): HandoffError {
  if (error instanceof HandoffError) return error;
  return new HandoffError(code, message, { cause: error });
}
