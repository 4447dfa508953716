import type { Server, Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

/**
 * What a server does with a connection's first bytes, as far as moving it to another process goes:
 * `http`, plaintext HTTP/1 (its state between two requests is none); `stateful`, TLS or HTTP/2 (a
 * session lives in this process from the first byte: the server wrote its SETTINGS, or will
 * negotiate keys); `stream`, a raw `net` server (its `'connection'` listener may hold state or
 * have written a greeting).
 */
export type ServedKind = 'http' | 'stateful' | 'stream';

/** What a drain knows of one connection when it asks whether the connection may move. */
export interface ConnectionSnapshot {
  readonly kind: ServedKind;
  /** Still open both ways: not destroyed, not ending. */
  readonly open: boolean;
  /** Bytes read from the kernel, and written to it. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Bytes read into this process and not consumed yet (the socket's readable buffer). */
  readonly buffered: number;
  /** HTTP/1: a response is in progress on it. */
  readonly responseInFlight: boolean;
  /** HTTP/1: its parser is between two messages (the last request read whole, no byte of a next one). */
  readonly parserIdle: boolean;
  /** Upgraded (a WebSocket, a CONNECT tunnel): the socket is the app's stream now. */
  readonly upgraded: boolean;
  /** It came with a PROXY header, which stays in this process. */
  readonly proxied: boolean;
  /** A raw stream's app said its connections hold nothing here before their first byte (`serve(server, { movable: true })`). */
  readonly optedIn: boolean;
}

/**
 * May this connection move to another worker, as if just accepted there? Only when nothing of it
 * lives in this process: its unread bytes wait in the kernel and are read by the next worker.
 * - plaintext HTTP/1: nothing read and nothing written yet, or idle between two requests (no
 *   response in progress, its parser between messages, nothing buffered);
 * - a raw stream whose app opted in: nothing read and nothing written yet;
 * - TLS, HTTP/2, another raw stream, an upgraded socket, a PROXY connection: never (they drain in place).
 */
export function mayMove(c: ConnectionSnapshot): boolean {
  if (!c.open || c.upgraded || c.proxied || c.buffered > 0 || c.responseInFlight) return false;
  const fresh = c.bytesRead === 0 && c.bytesWritten === 0;
  if (c.kind === 'stream') return c.optedIn && fresh;
  return c.kind === 'http' && (fresh || c.parserIdle);
}

const kMovable = Symbol.for('handoff.worker.movable');

/** The app says a raw stream server's connections may move while nothing was read or written (see `serve`'s `movable`). */
export function markMovable(server: Server): void {
  (server as Server & { [kMovable]?: boolean })[kMovable] = true;
}

/** Whether a drain tries to move the connections of `server` at all. */
export function movesConnectionsOf(server: Server): boolean {
  const kind = servedKind(server);
  return kind === 'http' || (kind === 'stream' && optedIn(server));
}

/** True when the app opted `server` in with {@link markMovable}. */
export function optedIn(server: Server): boolean {
  return (server as Server & { [kMovable]?: boolean })[kMovable] === true;
}

/** The kind of `server` for {@link mayMove}. */
export function servedKind(server: Server): ServedKind {
  if (server instanceof TlsServer || typeof (server as Server & { updateSettings?: unknown }).updateSettings === 'function') return 'stateful';
  return typeof (server as Server & { closeIdleConnections?: unknown }).closeIdleConnections === 'function' ? 'http' : 'stream';
}

type Parser = { socket?: Socket | null };
type ConnectionsList = { idle(): Parser[] };

/**
 * The sockets of an http server whose parsers are between two messages, from Node's own list of its
 * connections (what `server.closeIdleConnections()` reads; a fresh connection is not in it, its
 * header timeout runs). An empty set where the runtime keeps no such list.
 */
export function idleSockets(server: Server): Set<Socket> {
  const idle = new Set<Socket>();
  const list = connectionsList(server);
  if (list === undefined) return idle;
  for (const parser of list.idle()) if (parser.socket) idle.add(parser.socket);
  return idle;
}

function connectionsList(server: Server): ConnectionsList | undefined {
  for (const symbol of Object.getOwnPropertySymbols(server)) {
    if (symbol.description === 'http.server.connections') {
      const list = (server as unknown as Record<symbol, unknown>)[symbol] as ConnectionsList | undefined;
      return typeof list?.idle === 'function' ? list : undefined;
    }
  }
  return undefined;
}
