import { FdpassErrorCode, HandoffFdpassError } from './errors.js';
import type { Connection } from './types.js';

/**
 * How a connection's listener and kind travel with its fd in a native batch: one u32 per fd.
 * Bits 0-15 the listener, bit 16 set for a Unix-socket connection.
 */
const UNIX_BIT = 0x1_0000;

/** The most bytes a connection's `payload` holds, on both transports (native/fdpass.h, FP_MAX_PAYLOAD). */
export const MAX_PAYLOAD_BYTES = 65536;

/** Throws unless `connection.payload` fits. */
export function checkPayload(connection: Connection): void {
  const p = connection.payload;
  if (p !== undefined && p.byteLength > MAX_PAYLOAD_BYTES) {
    throw new HandoffFdpassError(FdpassErrorCode.PAYLOAD_TOO_LARGE, `connection ${connection.id}: a payload holds at most ${MAX_PAYLOAD_BYTES} bytes; this one has ${p.byteLength}`);
  }
}

/** The largest listener index a native batch carries. */
export const MAX_LISTENER = 0xffff;

/** The tag a native batch carries for a connection of `listener`. */
export function encodeTag(listener: number, kind: 'tcp' | 'unix'): number {
  return kind === 'unix' ? listener | UNIX_BIT : listener;
}

/** The listener a tag names. */
export function tagListener(tag: number): number {
  return tag & MAX_LISTENER;
}

/** The kind of socket a tag names. */
export function tagKind(tag: number): 'tcp' | 'unix' {
  return (tag & UNIX_BIT) !== 0 ? 'unix' : 'tcp';
}

/** Hands out connection ids, per primary transport. */
export class ConnectionFactory {
  private nextId = 1;

  /** One object shape for every connection, on both transports (V8 keeps one hidden class). */
  make(
    listener: number,
    kind: 'tcp' | 'unix',
    fd: number,
    handle: unknown,
    remoteAddress: string | undefined,
    remotePort: number | undefined,
    family: Connection['family'],
  ): Connection {
    return { id: this.nextId++, listener, kind, fd, handle, remoteAddress, remotePort, family, attempts: 0, payload: undefined };
  }
}

/** Bytes per peer in the native acceptor's `peers` array (native/acceptor.c). */
const PEER_BYTES = 64;

/** Reads entry `i` of the native acceptor's peer array: family, text length, port, address. */
export function readPeer(peers: Uint8Array, i: number): { address: string | undefined; port: number | undefined; family: Connection['family'] } {
  const at = i * PEER_BYTES;
  const family = peers[at];
  if (family === 1) return { address: undefined, port: undefined, family: 'unix' };
  if (family !== 4 && family !== 6) return { address: undefined, port: undefined, family: undefined };
  const length = peers[at + 1]!;
  const address = Buffer.from(peers.buffer, peers.byteOffset + at + 4, length).toString('latin1');
  return { address, port: peers[at + 2]! | (peers[at + 3]! << 8), family: family === 4 ? 'IPv4' : 'IPv6' };
}

/** A native handle Node accepted or received: what `adopt()` reads of it. */
export interface AdoptedHandle {
  readonly fd: number;
  close(): void;
  getpeername?(out: Record<string, unknown>): number;
}

const adoptPeer: Record<string, unknown> = {};

/**
 * The connection of a handle `adopt()` takes: `tcp` for a TCPWrap (it has `getpeername`), `unix`
 * for a PipeWrap, the peer read from the handle when asked; `fd` and `handle` as the transport keeps it.
 */
export function adoptedConnection(factory: ConnectionFactory, from: AdoptedHandle, listener: number, peer: boolean, fd: number, handle: unknown): Connection {
  const kind = typeof from.getpeername === 'function' ? 'tcp' : 'unix';
  if (!peer) return factory.make(listener, kind, fd, handle, undefined, undefined, undefined);
  if (kind === 'unix' || from.getpeername!(adoptPeer) !== 0) return factory.make(listener, kind, fd, handle, undefined, undefined, 'unix');
  return factory.make(listener, kind, fd, handle, adoptPeer.address as string, adoptPeer.port as number, adoptPeer.family as 'IPv4' | 'IPv6');
}
