import type { Server, Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Counters a worker keeps about its connections. */
export interface WorkerStats {
  /** Connections open now. */
  readonly open: number;
  /** Connections taken since start. */
  readonly accepted: number;
  /** Connections closed since start. */
  readonly closed: number;
  /** HTTP requests (or HTTP/2 streams) served since start. */
  readonly requests: number;
}

const kHttpSocket = Symbol('handoff.httpSocket');
const kWebSocket = Symbol('handoff.webSocket');
/** A socket as the server got it; over TLS, `kHttpSocket` is the TLS socket the HTTP layer uses. */
type TrackedSocket = Socket & { [kHttpSocket]?: HttpSocket; [kWebSocket]?: boolean };
/** What Node's HTTP server sets on a socket while a response on it is in progress. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null; _parent?: TrackedSocket | null };
type Emit = (this: Server, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Counts a server's connections and requests and knows which HTTP/1 sockets are idle (between
 * keep-alive requests), which is what a graceful drain needs. Handles are tracked in a Set so a drain
 * can reach every one of them.
 *
 * Nothing is allocated per request: requests are counted by wrapping the server's `emit` (no
 * listener of ours, so no listener array copied on each emit, and Node's behaviour, which depends
 * on whether `'request'`/`'upgrade'` have listeners, is the app's), and whether a socket is busy is
 * read from Node's own `socket._httpMessage` (the response in progress) when a drain needs it.
 */
export class ConnectionTracker {
  readonly sockets = new Set<TrackedSocket>();
  accepted = 0;
  closed = 0;
  requests = 0;
  /** Told after every close (the reporter batches them; a drain waits for the last). */
  private readonly closeListeners: Array<() => void> = [];
  /** Called for each HTTP request while draining, before the user's handler: see `drain.ts`. */
  private requestWhileDraining: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  private readonly closeListener: (this: TrackedSocket) => void;

  constructor(server?: Server) {
    const tracker = this;
    this.closeListener = function (this: TrackedSocket) {
      tracker.sockets.delete(this);
      tracker.closed++;
      const listeners = tracker.closeListeners;
      for (let i = 0; i < listeners.length; i++) listeners[i]!();
    };
    if (server !== undefined) this.watch(server);
  }

  /** From now on, `handler` sees each HTTP request first, before the app's handler (a drain marks or moves its connection). */
  whileDraining(handler: (req: IncomingMessage, res: ServerResponse) => void): void {
    this.requestWhileDraining = handler;
  }

  /** Calls `listener` after every close of a tracked socket; returns what stops it. */
  onClosed(listener: () => void): () => void {
    this.closeListeners.push(listener);
    return () => {
      const i = this.closeListeners.indexOf(listener);
      if (i >= 0) this.closeListeners.splice(i, 1);
    };
  }

  /** Counts the requests of `server` too (drop-in mode: an app may run several servers). */
  watch(server: Server): void {
    const tracker = this;
    const emit = server.emit as Emit;
    server.emit = function (this: Server, event: string | symbol, a?: unknown, b?: unknown): boolean {
      if (event === 'request') tracker.onRequest(a as IncomingMessage, b as ServerResponse);
      else if (event === 'stream') tracker.requests++; // an HTTP/2 stream
      else if (event === 'upgrade') {
        const req = a as IncomingMessage;
        if (String(req.headers.upgrade).toLowerCase() === 'websocket') (b as TrackedSocket)[kWebSocket] = true;
      }
      // Forward exactly what was emitted: listeners may look at their arguments' count.
      return arguments.length === 3 ? emit.call(this, event, a, b) : emit.apply(this, arguments as unknown as Parameters<Emit>);
    } as typeof server.emit;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    // HTTP/2 streams are counted as 'stream' (the compatibility layer also emits them as requests).
    if ((req.httpVersionMajor ?? 1) >= 2) return;
    this.requests++;
    // Over TLS the HTTP layer's socket wraps the raw one the tracker holds: remember it on the raw one.
    const socket = req.socket as HttpSocket | null;
    const raw = socket?._parent;
    if (raw !== undefined && raw !== null && raw[kHttpSocket] === undefined) raw[kHttpSocket] = socket!;
    this.requestWhileDraining?.(req, res);
  }

  /** Starts tracking a socket the server was just given. */
  track(socket: Socket): void {
    this.accepted++;
    this.sockets.add(socket);
    // Its 'close' is seen through its emit, not by a listener: the app may count the socket's
    // listeners (Node's own tests do), and finds only its own and Node's, as alone.
    const emit = socket.emit;
    const onClose = this.closeListener;
    let open = true;
    socket.emit = function (this: TrackedSocket, event: string | symbol): boolean {
      if (event === 'close' && open) {
        open = false;
        onClose.call(this);
      }
      return emit.apply(this, arguments as unknown as Parameters<typeof emit>);
    } as typeof socket.emit;
  }

  /** True when this socket was upgraded to a WebSocket. */
  isWebSocket(socket: Socket): boolean {
    return (socket as TrackedSocket)[kWebSocket] === true;
  }

  /** The HTTP/1 response in progress on this socket, if any. */
  responseOn(socket: Socket): ServerResponse | undefined {
    const http = (socket as TrackedSocket)[kHttpSocket] ?? (socket as HttpSocket);
    return http._httpMessage ?? undefined;
  }

  /** True when no HTTP request is in flight on this socket (only meaningful for HTTP/1 servers). */
  isIdle(socket: Socket): boolean {
    return this.responseOn(socket) === undefined;
  }

  /** A snapshot of the counters. */
  stats(): WorkerStats {
    return { open: this.sockets.size, accepted: this.accepted, closed: this.closed, requests: this.requests };
  }
}

/** http2 servers (`createServer`, `createSecureServer`) are the only ones with `updateSettings`. */
export function isHttp2Server(server: Server): boolean {
  return typeof (server as Server & { updateSettings?: unknown }).updateSettings === 'function';
}
