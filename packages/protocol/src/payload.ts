import { PROTOCOL_CMD, PROTOCOL_VERSION } from './constants.js';
import type { ConnectionMessage } from './messages.js';

/**
 * What travels with a connection, whichever transport carries it: the PROXY header the primary read
 * and the bytes it read after it. The native transport (`@handoff/fdpass`'s `payload`) carries these
 * bytes beside the fd; a `connection` message on the IPC channel carries them in base64
 * ({@link connectionMessage}). Only connections that have either carry one. Layout: a version byte (1), the header's length (u32, little-endian; 0: none),
 * the header, then the bytes read after it to the end.
 */
export interface ConnectionPayload {
  /** The PROXY header as received. */
  readonly proxy: Uint8Array | undefined;
  /** Bytes already read from the socket, to be put back in front of what it reads. */
  readonly head: Uint8Array | undefined;
}

const PAYLOAD_VERSION = 1;
const PREFIX = 5;

/** The payload of a connection with a PROXY header and/or bytes read first; undefined when it has neither. */
export function encodeConnectionPayload(proxy: Uint8Array | undefined, head: Uint8Array | undefined): Buffer | undefined {
  const p = proxy?.byteLength ?? 0;
  const h = head?.byteLength ?? 0;
  if (p === 0 && h === 0) return undefined;
  const out = Buffer.allocUnsafe(PREFIX + p + h);
  out[0] = PAYLOAD_VERSION;
  out.writeUInt32LE(p, 1);
  if (proxy !== undefined) out.set(proxy, PREFIX);
  if (head !== undefined) out.set(head, PREFIX + p);
  return out;
}

/** Reads a payload made by {@link encodeConnectionPayload}; undefined when it is not one. */
export function decodeConnectionPayload(payload: Uint8Array): ConnectionPayload | undefined {
  if (payload.byteLength < PREFIX || payload[0] !== PAYLOAD_VERSION) return undefined;
  const view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const p = view.readUInt32LE(1);
  if (PREFIX + p > view.byteLength) return undefined;
  const rest = view.byteLength - PREFIX - p;
  return { proxy: p === 0 ? undefined : view.subarray(PREFIX, PREFIX + p), head: rest === 0 ? undefined : view.subarray(PREFIX + p) };
}

/**
 * The `connection` message that goes with a connection's handle on the IPC channel: its listener,
 * its id, and its payload (see {@link encodeConnectionPayload}) in base64, the one place the bytes
 * are turned into text. The worker turns them back with {@link connectionPayloadOf}.
 */
export function connectionMessage(listener: number, id: number, payload: Uint8Array | undefined): ConnectionMessage {
  if (payload === undefined || payload.byteLength === 0) return { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener, id };
  return { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener, id, payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64') };
}

/** The payload bytes of a `connection` or `return` message (see {@link connectionMessage}), or undefined when it has none. */
export function connectionPayloadOf(message: { readonly payload?: string }): Buffer | undefined {
  return message.payload === undefined || message.payload === '' ? undefined : Buffer.from(message.payload, 'base64');
}
