/**
 * Reads the PROXY header at the start of a socket: bounded in time (a timer) and in bytes (the
 * parser's bound), refusing peers outside the trusted blocks before reading anything. It does no
 * I/O of its own: it listens to the socket it is given and stops it reading once the header is in.
 */
import { HandoffProxyProtocolError, ProxyProtocolErrorCode } from './errors.js';
import { createProxyHeaderParser, type ProxyFeedDone } from './parse.js';
import type { TrustCheck } from './trust.js';

/** What {@link readProxyHeader} needs of a socket: a `net.Socket` is one. */
export interface ProxySocket {
  readonly remoteAddress?: string | undefined;
  // `any`, as Node's own typings of EventEmitter listeners have it: `(chunk: Buffer) => void` for 'data'.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: 'data' | 'end' | 'close' | 'error', listener: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  off(event: 'data' | 'end' | 'close' | 'error', listener: (...args: any[]) => void): unknown;
  pause(): unknown;
}

/** Options of {@link readProxyHeader}. */
export interface ProxyReadOptions {
  /** A connection without a complete header by then fails with `HANDOFF_ERR_PROXY_TIMEOUT`, in ms. */
  readonly timeout: number;
  /** @default 4096 */
  readonly maxHeaderBytes?: number;
  /** Peers allowed to send a header (see {@link createTrustCheck}); absent: any peer. */
  readonly trusted?: TrustCheck;
}

/** What {@link readProxyHeader} reports: the header, or why the connection must be closed. */
export type ProxyReadResult = ProxyFeedDone | { readonly status: 'error'; readonly error: HandoffProxyProtocolError };

interface NativeReading {
  reading?: boolean;
  readStop?(): number;
}

/**
 * Stops a `net.Socket` reading. `pause()` alone does not: Node keeps reading into the stream's
 * buffer until it passes its high-water mark (`maybeReadMore` in lib/internal/streams/readable.js),
 * and a primary that hands the handle on must leave every later byte in the kernel for the worker.
 * So such a caller builds its socket with `readableHighWaterMark: 0`, and this stops the handle;
 * called inside the `'data'` callback, it also ends libuv's read loop for this turn (`uv__read`
 * checks `UV_HANDLE_READING` between reads). A socket with a buffer (a worker's) may read ahead
 * into it, which is harmless: `unshift(rest)` puts the payload's start back in front.
 */
function stopReading(socket: ProxySocket): void {
  socket.pause();
  const handle = (socket as { _handle?: NativeReading | null })._handle;
  if (handle?.reading === true && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
}

/**
 * Reads the PROXY header at the start of `socket` and calls `done` once, synchronously within the
 * socket's `'data'` event that completed it (the socket is paused by then, and its listeners of
 * ours removed: the caller owns its `'error'` events from then on; what followed the header in
 * that read is `rest`), or with a {@link HandoffProxyProtocolError}: `UNTRUSTED` (at once, nothing
 * read), `TIMEOUT`, `CLOSED`, or the parser's refusal. The caller closes a failed socket. Returns
 * a function that cancels the read (no call of `done` after it).
 */
export function readProxyHeader(socket: ProxySocket, options: ProxyReadOptions, done: (result: ProxyReadResult) => void): () => void {
  if (options.trusted !== undefined && socket.remoteAddress === undefined) {
    // getpeername() failed: the peer is already gone (reset before the accept was handled).
    done({ status: 'error', error: new HandoffProxyProtocolError(ProxyProtocolErrorCode.CLOSED, 'the connection closed before its PROXY header was read') });
    return () => {};
  }
  if (options.trusted !== undefined && !options.trusted(socket.remoteAddress)) {
    done({
      status: 'error',
      error: new HandoffProxyProtocolError(ProxyProtocolErrorCode.UNTRUSTED, `a PROXY header from ${socket.remoteAddress ?? 'an unknown peer'}, which is outside the listener's trusted blocks; add the proxy's address to proxyProtocol.trusted`),
    });
    return () => {};
  }
  const parser = createProxyHeaderParser(options.maxHeaderBytes === undefined ? undefined : { maxHeaderBytes: options.maxHeaderBytes });
  let finished = false;
  const finish = (result: ProxyReadResult): void => {
    if (finished) return;
    cancel();
    done(result);
  };
  const fail = (code: ProxyProtocolErrorCode, message: string, cause?: unknown): void =>
    finish({ status: 'error', error: new HandoffProxyProtocolError(code, message, cause === undefined ? undefined : { cause }) });
  const onData = (chunk: Buffer): void => {
    const result = parser.push(chunk);
    if (result.status === 'incomplete') return;
    if (result.status === 'done') stopReading(socket);
    finish(result);
  };
  const onEnd = (): void => fail(ProxyProtocolErrorCode.CLOSED, `the connection ended after ${parser.buffered} bytes, before its PROXY header was complete`);
  const onError = (error: Error): void => fail(ProxyProtocolErrorCode.CLOSED, `the connection failed before its PROXY header was complete: ${error.message}`, error);
  const timer = setTimeout(() => fail(ProxyProtocolErrorCode.TIMEOUT, `no complete PROXY header within ${options.timeout} ms (${parser.buffered} bytes so far)`), options.timeout);
  timer.unref();
  function cancel(): void {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    socket.off('error', onError);
  }
  socket.on('error', onError);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('data', onData);
  return cancel;
}
