/**
 * What travels with a connection on the native transport (`@handoff/fdpass`'s `payload`), where no
 * message goes with its fd: the PROXY header the primary read and the bytes it read after it, the
 * `proxy` and `head` of a `connection` message on the IPC channel. Only connections that have
 * either carry one. Layout: a version byte (1), the header's length (u32, little-endian; 0: none),
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
