import type { Server, Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { idleSockets, mayMove, movesConnectionsOf, optedIn, servedKind } from './movable.js';
import type { ConnectionTracker } from './tracker.js';
import { isHttp2Server } from './tracker.js';

/** How long a keep-alive socket that was idle when the drain began may stay idle before it is closed. */
export const IDLE_GRACE_MS = 500;

/** How long a WebSocket sent its close frame at the deadline may take to close, in ms. */
export const WEBSOCKET_CLOSE_GRACE_MS = 100;

/** A WebSocket close frame from a server (unmasked), status 1001 "going away". */
const GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/** What a drain needs to reach. */
export interface DrainTarget {
  /** The servers whose connections drain (one, or several in drop-in mode). */
  readonly servers: readonly Server[];
  readonly tracker: ConnectionTracker;
  /** HTTP/2 sessions open on the server (each gets a GOAWAY). */
  readonly sessions: ReadonlySet<{ close(): void; destroyed: boolean }>;
  /**
   * Gives a connection back to the primary, which serves it on another worker (see `move.ts`);
   * false when it could not go. Absent: every connection drains here.
   */
  readonly move?: (socket: Socket) => boolean;
}

/**
 * Drains a server gracefully and resolves once its last connection is closed, or at `deadline`
 * (ms since the epoch) after destroying what is left.
 *
 * - With `move`, plaintext HTTP/1 connections move instead of closing: each one between requests
 *   (nothing read yet, or idle after a response) goes back to the primary at once, and each one
 *   busy with a request goes once its response is done, its client none the wiser (see
 *   `movable.ts` for which may). What cannot move drains as below.
 * - HTTP/1: every response from now on says `Connection: close`, so a busy keep-alive socket closes
 *   after its in-flight request. A socket idle when the drain begins is closed only if it stays
 *   idle (no request, no byte) through a grace: closing it at the instant its client reuses it
 *   would fail that client's request.
 * - HTTP/2: each session gets GOAWAY (`session.close()`), which lets its open streams finish.
 * - Anything else (raw TCP, WebSocket): left to finish on its own until the deadline; a WebSocket
 *   still open then gets a close frame with status 1001 (going away) before its socket ends.
 */
export function drainConnections(target: DrainTarget, deadline: number, idleGraceMs = IDLE_GRACE_MS): Promise<void> {
  const { tracker } = target;
  const moveIfIdle = target.move === undefined ? undefined : moverFor(tracker, target.move);
  const moves = (socket: Socket): boolean => moveIfIdle !== undefined && servedBy(socket) !== undefined && movesConnectionsOf(servedBy(socket)!);
  tracker.whileDraining((req, res) => {
    const socket = req.socket;
    // A connection that moves finishes its request here, then goes; one that cannot says it closes.
    if (moves(socket)) res.once('finish', () => moveIfIdle!(socket));
    else markClose(req, res);
  });
  for (const socket of [...tracker.sockets]) {
    const res = tracker.responseOn(socket);
    if (moves(socket)) {
      if (res !== undefined) res.once('finish', () => moveIfIdle!(socket));
      else moveIfIdle!(socket);
    } else if (res !== undefined) {
      // Requests already in flight answer `Connection: close` too, so their sockets close after them.
      markClose(undefined, res);
    }
  }
  if (target.servers.some(isHttp2Server)) {
    for (const session of target.sessions) if (!session.destroyed) session.close();
  }
  const http1 = target.servers.some(isHttp1);
  const bytesAtStart = new Map<Socket, number>();
  for (const socket of tracker.sockets) bytesAtStart.set(socket, socket.bytesRead);

  return new Promise((resolve) => {
    let finished = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (): void => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      stopWatching();
      resolve();
    };
    const stopWatching = tracker.onClosed(() => {
      if (tracker.sockets.size === 0) finish();
    });
    if (tracker.sockets.size === 0) {
      finish();
      return;
    }
    timers.push(
      setTimeout(() => {
        for (const socket of [...tracker.sockets]) {
          // One that could not move at its response's end (the request's body was still being read) may now.
          if (moves(socket)) {
            moveIfIdle!(socket);
            continue;
          }
          const untouched = bytesAtStart.get(socket) === socket.bytesRead;
          if (untouched && tracker.isIdle(socket) && http1 && !tracker.isWebSocket(socket)) socket.destroy();
        }
      }, Math.min(idleGraceMs, Math.max(0, deadline - Date.now()))),
      setTimeout(() => {
        let closing = false;
        for (const socket of tracker.sockets) {
          // A WebSocket still open at the deadline is told why it closes: 1001, going away.
          if (tracker.isWebSocket(socket) && socket.writable) {
            socket.end(GOING_AWAY);
            closing = true;
          } else {
            socket.destroy();
          }
        }
        // 'close' events follow asynchronously; do not wait for stragglers past the deadline (or
        // past the close frames' short grace).
        setTimeout(() => {
          for (const socket of tracker.sockets) socket.destroy();
          setImmediate(finish);
        }, closing ? WEBSOCKET_CLOSE_GRACE_MS : 0);
      }, Math.max(0, deadline - Date.now())),
    );
  });
}

/** The server a socket was given to (set as net.Server's accept sets it). */
function servedBy(socket: Socket): Server | undefined {
  return (socket as Socket & { server?: Server }).server;
}

/**
 * Moves a socket if it may move now (`mayMove`); returns whether it went. Node's list of an http
 * server's idle parsers is read once per synchronous run (no byte can be read in between), however
 * many sockets are asked in it.
 */
function moverFor(tracker: ConnectionTracker, move: (socket: Socket) => boolean): (socket: Socket) => boolean {
  let idle: Map<Server, Set<Socket>> | undefined;
  const idleOn = (server: Server): Set<Socket> => {
    if (idle === undefined) {
      idle = new Map();
      queueMicrotask(() => (idle = undefined));
    }
    let sockets = idle.get(server);
    if (sockets === undefined) idle.set(server, (sockets = idleSockets(server)));
    return sockets;
  };
  return (socket) => {
    const server = servedBy(socket);
    if (server === undefined || !tracker.sockets.has(socket)) return false;
    const kind = servedKind(server);
    const may = mayMove({
      kind,
      open: !socket.destroyed && socket.readable && socket.writable,
      bytesRead: socket.bytesRead,
      bytesWritten: socket.bytesWritten,
      buffered: socket.readableLength,
      responseInFlight: tracker.responseOn(socket) !== undefined,
      parserIdle: idleOn(server).has(socket),
      // Node frees an http socket's parser when it is upgraded (a WebSocket, CONNECT).
      upgraded: tracker.isWebSocket(socket) || (kind === 'http' && (socket as Socket & { parser?: unknown }).parser == null),
      proxied: (socket as Socket & { proxy?: unknown }).proxy !== undefined,
      optedIn: optedIn(server),
    });
    return may && move(socket);
  };
}

function markClose(_req: unknown, res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
  res.shouldKeepAlive = false;
}

/** HTTP/1 servers: http, https, and http2 with `allowHTTP1` (whose HTTP/1 sockets are tracked the same way). */
function isHttp1(server: Server): boolean {
  return typeof (server as Server & { closeIdleConnections?: unknown }).closeIdleConnections === 'function' || isHttp2Server(server);
}
