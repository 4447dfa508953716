import { channel } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import { debuglog } from 'node:util';
import type { ListenProxy } from '@handoff/protocol';
import { createTrustCheck, parseProxyHeader, readProxyHeader, type ProxyHeader, type TrustCheck } from '@handoff/proxy-protocol';

const debug = debuglog('handoff');

/**
 * A connection closed for want of a valid PROXY header, in the kernel modes (where the worker
 * reads it): `{ listener, code, message, remoteAddress, remotePort }`, in the worker's process. The
 * primary publishes the same channel for mode `primary`.
 */
const refusedChannel = channel('handoff:connection:proxy-refused');

/** What `socket.proxy` holds on a connection of a listener with `proxyProtocol`. */
export interface ProxyInfo {
  /** The PROXY header: `source`, `destination`, TLVs (`authority`, `alpn`, `ssl`, `awsVpceId`, …). */
  readonly header: ProxyHeader;
  /** The proxy's own address: the TCP peer of this socket, before the header's source replaced it. */
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
}

/**
 * Makes the socket report the client its header names: `remoteAddress`, `remotePort` and
 * `remoteFamily` become the header's source (own properties over net.Socket's getters, so
 * `req.socket.remoteAddress`, Express's `req.ip` and Fastify's `request.ip` see the client; and the
 * native handle's `getpeername`, which a TLSSocket on top of it asks), and
 * `socket.proxy` keeps the header and the proxy's own address. A header that names no client
 * (LOCAL, UNKNOWN, AF_UNSPEC, a Unix source) leaves the socket's own addresses.
 */
export function adoptHeader(socket: Socket, header: ProxyHeader): void {
  const info: ProxyInfo = { header, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, remoteFamily: socket.remoteFamily };
  Object.defineProperty(socket, 'proxy', { value: info, configurable: true, enumerable: false });
  const source = header.command === 'proxy' ? header.source : undefined;
  if (source === undefined || source.family === 'unix') return;
  Object.defineProperties(socket, {
    remoteAddress: { value: source.address, configurable: true },
    remotePort: { value: source.port, configurable: true },
    remoteFamily: { value: source.family, configurable: true },
  });
  // A tls.Server (https, http2) wraps the socket in a TLSSocket whose remoteAddress asks the native
  // handle itself (`getpeername` is among the methods _tls_wrap.js proxies to its parent handle):
  // answer there too, so TLS apps see the client as well.
  const handle = (socket as Socket & { _handle?: { getpeername?: (out: Record<string, unknown>) => number } | null })._handle;
  if (handle !== null && handle !== undefined) {
    handle.getpeername = (out) => {
      out.address = source.address;
      out.port = source.port;
      out.family = source.family;
      return 0;
    };
  }
}

/**
 * The PROXY header and the proxy's own address of a socket (for HTTP, `req.socket`), or undefined
 * when its listener reads no PROXY header.
 */
export function proxyInfo(socket: Socket): ProxyInfo | undefined {
  return (socket as Socket & { proxy?: ProxyInfo }).proxy;
}

/** Mode `primary`: the header the primary read, sent with the connection in its payload. */
export function adoptSentHeader(socket: Socket, header: Uint8Array): void {
  const result = parseProxyHeader(Buffer.from(header.buffer, header.byteOffset, header.byteLength), { maxHeaderBytes: 65_536 });
  if (result.status === 'done') adoptHeader(socket, result.header);
  else debug('worker %d: the primary sent a PROXY header that does not parse: %s', process.pid, result.status === 'error' ? result.error.message : 'incomplete');
}

const trustCache = new WeakMap<ListenProxy, TrustCheck | undefined>();

/**
 * Kernel modes: wraps a listener's socket callback, when its `listen` message has `proxy`, so that
 * each socket first has its PROXY header read (bounded by `config.timeout` and `config.maxHeaderBytes`, refused outside `config.trusted`);
 * a socket that fails is destroyed, published on `handoff:connection:proxy-refused` and passed to
 * `onRefused` (the worker counts it for its primary), and never reaches the app. What followed the
 * header is put back in front of the socket's stream.
 */
export function readingProxyHeader<A extends unknown[]>(
  message: { readonly listener: number; readonly proxy?: ListenProxy },
  next: (socket: Socket, ...rest: A) => void,
  onRefused: (code: string) => void = () => {},
): (socket: Socket, ...rest: A) => void {
  const { listener, proxy: config } = message;
  if (config === undefined) return next;
  if (!trustCache.has(config)) trustCache.set(config, config.trusted === undefined ? undefined : createTrustCheck(config.trusted));
  const trusted = trustCache.get(config);
  return (socket, ...rest) => {
    // An app server with pauseOnConnect gets its sockets paused: read the header anyway, and hand
    // the socket on paused, as asked.
    const paused = socket.readableFlowing === false;
    readProxyHeader(socket, { timeout: config.timeout, maxHeaderBytes: config.maxHeaderBytes, trusted }, (result) => {
      if (result.status === 'error') {
        const refusal = { listener, code: result.error.code, message: result.error.message, remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
        debug('worker %d: closing a connection on listener %d: %s', process.pid, listener, result.error.message);
        socket.on('error', () => {});
        socket.destroy();
        if (refusedChannel.hasSubscribers) refusedChannel.publish(refusal);
        onRefused(refusal.code);
        return;
      }
      if (result.rest.length > 0) socket.unshift(result.rest);
      // The reader paused it; undo that, so that the app's first 'data' listener starts it flowing.
      if (!paused) (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      adoptHeader(socket, result.header);
      next(socket, ...rest);
    });
    if (paused) socket.resume();
  };
}
