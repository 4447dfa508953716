import { PROTOCOL_CMD } from './constants.js';

/**
 * Tells a handoff message from anything else on the IPC channel (the user's own messages), without
 * validating it: use {@link decodeMessage} for that. Cheap enough for every message.
 */
export function isHandoffMessage(value: unknown): value is { readonly cmd: typeof PROTOCOL_CMD } {
  try {
    return typeof value === 'object' && value !== null && (value as { cmd?: unknown }).cmd === PROTOCOL_CMD;
  } catch {
    // A hostile getter or proxy (never from the channel, which parses JSON): not ours to read.
    return false;
  }
}
