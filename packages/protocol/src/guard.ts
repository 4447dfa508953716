import { PROTOCOL_CMD } from './constants.js';

/**
 * Tells a handoff message from anything else on the IPC channel (the user's own messages), without
 * validating it: use {@link decodeMessage} for that. Cheap enough for every message.
 */
export function isHandoffMessage(value: unknown): value is { readonly cmd: typeof PROTOCOL_CMD } {
  return typeof value === 'object' && value !== null && (value as { cmd?: unknown }).cmd === PROTOCOL_CMD;
}
