import { PROTOCOL_CMD, PROTOCOL_VERSION } from './constants.js';
import { decodeMessage } from './decode.js';
import { HandoffProtocolError, ProtocolErrorCode } from './errors.js';
import type { BodyOf, HandoffMessage, HandoffMessageType, MessageOf } from './messages.js';
import { isHandoffMessage } from './guard.js';

/**
 * One end of an IPC channel: a `ChildProcess` in the primary, `process` in a worker. Only the parts
 * handoff uses.
 */
export interface ChannelEnd {
  readonly connected?: boolean;
  send?: (message: unknown, handle?: unknown, options?: object, callback?: (error: Error | null) => void) => boolean;
  on(event: 'internalMessage', listener: (message: unknown, handle: unknown) => void): unknown;
  off(event: 'internalMessage', listener: (message: unknown, handle: unknown) => void): unknown;
}

/** Options for sending a handle: keep the sender's copy open (the primary closes it once the receiver's runtime acknowledged it). */
const KEEP_OPEN = Object.freeze({ keepOpen: true });

/** Builds a message of `type` with the envelope filled in. */
export function createMessage<T extends HandoffMessageType>(type: T, body: Omit<BodyOf<T>, 'type'>): MessageOf<T> {
  return { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type, ...body } as unknown as MessageOf<T>;
}

function handleIsClosed(handle: object): boolean {
  const h = handle as { destroyed?: unknown; _handle?: unknown; fd?: unknown; listening?: unknown };
  // net.Socket / net.Server wrappers: closed once their native handle is gone.
  if ('_handle' in h) return h._handle === null || h.destroyed === true;
  // A native TCP/Pipe handle reports fd -1 once closed (Linux, macOS).
  return typeof h.fd === 'number' && h.fd < 0;
}

/**
 * Sends a handoff message, with a handle if given, and resolves once Node has written it to the
 * channel. Rejects with `HANDOFF_ERR_CHANNEL_CLOSED` if the channel is closed and
 * `HANDOFF_ERR_HANDLE_CLOSED` if the handle is already closed. The sender's copy of the handle
 * stays open: closing it is the caller's decision.
 *
 * This allocates a Promise: the per-connection path in the orchestrator calls `end.send` directly.
 */
export function sendMessage(end: ChannelEnd, message: HandoffMessage, handle?: object): Promise<void> {
  return new Promise((resolve, reject) => {
    if (end.send === undefined || end.connected === false) {
      reject(new HandoffProtocolError(ProtocolErrorCode.CHANNEL_CLOSED, `cannot send '${message.type}': the IPC channel is closed`));
      return;
    }
    if (handle !== undefined && handleIsClosed(handle)) {
      reject(new HandoffProtocolError(ProtocolErrorCode.HANDLE_CLOSED, `cannot send '${message.type}': its handle is already closed`));
      return;
    }
    const done = (error: Error | null): void => {
      if (error === null || error === undefined) resolve();
      else reject(new HandoffProtocolError(ProtocolErrorCode.CHANNEL_CLOSED, `sending '${message.type}' failed: ${error.message}`, undefined, { cause: error }));
    };
    try {
      if (handle === undefined) end.send(message, undefined, undefined, done);
      else end.send(message, handle, KEEP_OPEN, done);
    } catch (error) {
      // Node throws synchronously for some closed-channel and bad-handle cases.
      reject(new HandoffProtocolError(ProtocolErrorCode.CHANNEL_CLOSED, `sending '${message.type}' failed`, undefined, { cause: error }));
    }
  });
}

/** What {@link subscribe} calls: valid messages go to `message`, refused ones to `error`. */
export interface ProtocolHandlers {
  message(message: HandoffMessage, handle: unknown): void;
  error(error: HandoffProtocolError, handle: unknown): void;
}

/**
 * Listens for handoff messages on one channel end. Every message is validated; a bad one is
 * reported to `handlers.error` (with its handle, which the caller should close) and never throws.
 * User messages never reach these handlers. Returns a function that stops listening.
 */
export function subscribe(end: ChannelEnd, handlers: ProtocolHandlers): () => void {
  const listener = (value: unknown, handle: unknown): void => {
    if (!isHandoffMessage(value)) return; // Node's own internal messages (NODE_HANDLE_ACK, cluster…)
    const result = decodeMessage(value, handle);
    try {
      if (result.ok) handlers.message(result.message, handle);
      else handlers.error(result.error, handle);
    } catch (error) {
      // A throwing handler must not take the process down from inside Node's IPC machinery: it is
      // reported like a bad message, and the channel keeps working.
      try {
        handlers.error(new HandoffProtocolError(ProtocolErrorCode.MALFORMED, `handling '${String((value as { type?: unknown }).type)}' threw`, value, { cause: error }), undefined);
      } catch {
        // Nothing sensible is left to do; the message is dropped, the process lives.
      }
    }
  };
  end.on('internalMessage', listener);
  return () => {
    end.off('internalMessage', listener);
  };
}
