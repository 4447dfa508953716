import { Socket, type SocketConstructorOpts } from 'node:net';
import { encodeConnectionPayload } from '@handoff/protocol';
import { createTrustCheck, HandoffProxyProtocolError, parseProxyHeader, ProxyProtocolErrorCode, readProxyHeader, type ProxyAddress, type TrustCheck } from '@handoff/proxy-protocol';
import type { NativeHandle } from './types.js';
import { channels, debug } from './diagnostics.js';
import type { ResolvedProxyProtocol } from './options.js';

/** The client a connection's PROXY header names: what a policy that picks by address reads. */
export interface ProxiedPeer {
  /** The client the header names; undefined for LOCAL, UNKNOWN and AF_UNSPEC headers (the proxy's own connection). */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly family: 'IPv4' | 'IPv6' | 'unix' | undefined;
}

/** A connection closed for want of a valid PROXY header. */
export interface ProxyRefusal {
  readonly listener: number;
  /** A `HANDOFF_ERR_PROXY_*` code: why. */
  readonly code: string;
  readonly message: string;
  /** The peer that connected (the proxy, or whoever it was). */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

/** What the intake hands on. */
export interface ProxyIntakeHost {
  /**
   * The header is in: place the connection, picking by the header's client. `payload` is what
   * travels with it to its worker, as bytes (`encodeConnectionPayload`: the header, for the worker
   * to read the client, the TLVs and the proxy's address; the bytes read after it).
   */
  accepted(listener: number, handle: NativeHandle, peer: ProxiedPeer, payload: Buffer): void;
  refused(refusal: ProxyRefusal): void;
}

const noop = (): void => {};

/**
 * Mode `primary` on a listener with `proxyProtocol`: reads each connection's PROXY header before
 * the policy picks, so that `ipHash()` sees the client and not the proxy. Each connection is read
 * through a `net.Socket` with a high-water mark of 0, so that once the header is in the handle is
 * stopped and every later byte stays in the kernel for the worker; what the completing read held
 * after the header travels as `head`. A header that is invalid, late (`timeout`), too large, or
 * from outside `trusted` closes the connection: it never reaches a worker. Memory per waiting
 * connection is its socket plus at most `maxHeaderBytes`, for at most `timeout`.
 */
export class ProxyIntake {
  private readonly reading = new Map<Socket, () => void>();
  private readonly trust = new Map<number, TrustCheck | undefined>();
  /** Connections still sending their header, per listener (`proxyProtocol.maxPending`). */
  private readonly pendingOn = new Map<number, number>();

  constructor(private readonly host: ProxyIntakeHost) {}

  read(listener: number, handle: NativeHandle, config: ResolvedProxyProtocol): void {
    if (!this.trust.has(listener)) this.trust.set(listener, config.trusted === undefined ? undefined : createTrustCheck(config.trusted));
    const socket = new Socket({ handle, readable: true, writable: true, readableHighWaterMark: 0 } as SocketConstructorOpts);
    if ((this.pendingOn.get(listener) ?? 0) >= config.maxPending) {
      const message = `${config.maxPending} connections of this listener are still sending their PROXY header (proxyProtocol.maxPending); closing one more`;
      this.refuse(listener, socket, new HandoffProxyProtocolError(ProxyProtocolErrorCode.BUSY, message));
      return;
    }
    const options = { timeout: config.timeout, maxHeaderBytes: config.maxHeaderBytes, trusted: this.trust.get(listener) };
    let settled = false;
    const stop = readProxyHeader(socket, options, (result) => {
      settled = true;
      if (this.reading.delete(socket)) this.pendingOn.set(listener, (this.pendingOn.get(listener) ?? 1) - 1);
      if (result.status === 'error') {
        this.refuse(listener, socket, result.error);
        return;
      }
      // The handle goes on without this socket; an error it might still see must not be unhandled.
      socket.on('error', noop);
      this.host.accepted(listener, handle, peerOf(result.header.source), encodeConnectionPayload(result.raw, result.rest.length > 0 ? result.rest : undefined)!);
    });
    // readProxyHeader answers an untrusted peer at once, before this line: nothing to track then.
    if (!settled) {
      this.reading.set(socket, stop);
      this.pendingOn.set(listener, (this.pendingOn.get(listener) ?? 0) + 1);
    }
  }

  private refuse(listener: number, socket: Socket, error: HandoffProxyProtocolError): void {
    const refusal: ProxyRefusal = { listener, code: error.code, message: error.message, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
    debug('proxy protocol: closing a connection on listener %d: %s', listener, error.message);
    socket.on('error', noop);
    socket.destroy();
    if (channels.proxyRefused.hasSubscribers) channels.proxyRefused.publish(refusal);
    this.host.refused(refusal);
  }

  /** Connections whose header is still on its way. */
  get pending(): number {
    return this.reading.size;
  }

  /** Closes every connection still sending its header (the primary is closing). */
  close(): void {
    for (const [socket, cancel] of this.reading) {
      cancel();
      socket.destroy();
    }
    this.reading.clear();
    this.pendingOn.clear();
  }
}

/** The client a parsed header names (none for LOCAL, UNKNOWN and AF_UNSPEC headers; no address for a Unix one). */
function peerOf(source: ProxyAddress | undefined): ProxiedPeer {
  const inet = source !== undefined && source.family !== 'unix' ? source : undefined;
  return { remoteAddress: inet?.address, remotePort: inet?.port, family: source?.family };
}

/**
 * The client named by the PROXY header in a connection's payload (one a worker gave back), read
 * again only where a policy picks by address; undefined when the payload carries no header.
 */
export function peerOfPayload(proxy: Uint8Array | undefined): ProxiedPeer | undefined {
  if (proxy === undefined) return undefined;
  const parsed = parseProxyHeader(Buffer.from(proxy.buffer, proxy.byteOffset, proxy.byteLength), { maxHeaderBytes: 65_536 });
  if (parsed.status !== 'done') return undefined;
  return peerOf(parsed.header.command === 'proxy' ? parsed.header.source : undefined);
}
