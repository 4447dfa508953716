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

const kActive = Symbol('handoff.activeRequests');
const kWebSocket = Symbol('handoff.webSocket');
type TrackedSocket = Socket & { [kActive]?: number; [kWebSocket]?: boolean };

/**
 * Counts a server's connections and requests and knows which HTTP/1 sockets are idle (between
 * keep-alive requests), which is what a graceful drain needs. Handles are tracked in a Set so a drain
 * can reach every one of them.
 */
export class ConnectionTracker {
  readonly sockets = new Set<TrackedSocket>();
  accepted = 0;
  closed = 0;
  requests = 0;
  /** Called after every close; the reporter batches them. */
  onClose: () => void = () => {};
  /** Called for each HTTP request while draining, before the user's handler: see `drain.ts`. */
  onRequestWhileDraining: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** HTTP/1 responses not finished yet: a drain marks them `Connection: close` too. */
  readonly inFlight = new Set<ServerResponse>();
  private readonly closeListener: (this: TrackedSocket) => void;

  constructor(server?: Server) {
    const tracker = this;
    this.closeListener = function (this: TrackedSocket) {
      tracker.sockets.delete(this);
      tracker.closed++;
      tracker.onClose();
    };
    if (server !== undefined) this.watch(server);
  }

  /** Counts the requests of `server` too (drop-in mode: an app may run several servers). */
  watch(server: Server): void {
    // WebSocket upgrades are seen by wrapping emit, not by listening: an 'upgrade' listener would
    // change what Node does with upgrade requests of an app that has none.
    const emit = server.emit;
    server.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'upgrade') {
        const [req, socket] = args as [IncomingMessage, TrackedSocket];
        if (String(req.headers.upgrade).toLowerCase() === 'websocket') socket[kWebSocket] = true;
      }
      return (emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean).call(this, event, ...args);
    } as typeof server.emit;
    if (isHttp2Server(server)) {
      // Listening to 'request' on an http2 server would switch on its compatibility layer for every
      // stream (see setupCompat in Node's lib/internal/http2/core.js): count streams instead.
      server.on('stream', () => {
        this.requests++;
      });
      return;
    }
    // http/https: one 'request' per request. `prependListener` so that a drain can mark the
    // response `Connection: close` before the user's handler writes headers.
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      this.requests++;
      // Over TLS the request's socket wraps the raw one the tracker holds (`_parent`): mark both.
      const socket = req.socket as (TrackedSocket & { _parent?: TrackedSocket | null }) | null;
      if (socket !== null && (req.httpVersionMajor ?? 1) < 2) {
        const raw = socket._parent ?? undefined;
        markActive(socket, 1);
        if (raw !== undefined) markActive(raw, 1);
        this.inFlight.add(res);
        res.once('close', () => {
          this.inFlight.delete(res);
          markActive(socket, -1);
          if (raw !== undefined) markActive(raw, -1);
        });
      }
      this.onRequestWhileDraining?.(req, res);
    });
  }

  /** Starts tracking a socket the server was just given. */
  track(socket: Socket): void {
    this.accepted++;
    this.sockets.add(socket);
    socket.once('close', this.closeListener);
  }

  /** True when this socket was upgraded to a WebSocket. */
  isWebSocket(socket: Socket): boolean {
    return (socket as TrackedSocket)[kWebSocket] === true;
  }

  /** True when no HTTP request is in flight on this socket (only meaningful for HTTP/1 servers). */
  isIdle(socket: Socket): boolean {
    return ((socket as TrackedSocket)[kActive] ?? 0) === 0;
  }

  /** A snapshot of the counters. */
  stats(): WorkerStats {
    return { open: this.sockets.size, accepted: this.accepted, closed: this.closed, requests: this.requests };
  }
}

function markActive(socket: TrackedSocket, delta: number): void {
  socket[kActive] = (socket[kActive] ?? 0) + delta;
}

/** http2 servers (`createServer`, `createSecureServer`) are the only ones with `updateSettings`. */
export function isHttp2Server(server: Server): boolean {
  return typeof (server as Server & { updateSettings?: unknown }).updateSettings === 'function';
}
