import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The biggest request head the endpoint reads (request line and headers), in bytes: a scrape needs a few hundred. */
export const MAX_HEADER_BYTES = 8 * 1024;
/** Connections the endpoint holds at once; more wait in the kernel's backlog, then are refused. */
export const MAX_CONNECTIONS = 32;

/** One answer: a status, a content type and a body. */
export interface Answer {
  readonly status: number;
  readonly type: string;
  readonly body: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** What the endpoint answers on each path; `accept` is the request's `Accept` header. */
export type Routes = Readonly<Record<string, (accept: string) => Answer | Promise<Answer>>>;

const text = (status: number, body: string, headers?: Record<string, string>): Answer => ({ status, type: 'text/plain; charset=utf-8', body, headers });

/**
 * The metrics endpoint's HTTP server: GET and HEAD on the known paths, nothing else. It runs in the
 * primary, so everything a client can send is bounded: the head's size (431), the time to send it,
 * a body (413), the connections at once; a malformed request gets 400 from Node's parser. Nothing
 * it does touches the app's listeners.
 */
export function createMetricsHttpServer(routes: Routes): Server {
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req, res) => {
    void answer(routes, req, res);
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && !socket.destroyed) {
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}

async function answer(routes: Routes, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let a: Answer;
  const path = (req.url ?? '/').split('?')[0]!;
  const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
  if (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0) {
    a = text(413, 'no request body is accepted here\n');
    res.shouldKeepAlive = false;
  } else if (req.method !== 'GET' && req.method !== 'HEAD') {
    a = text(405, `${String(req.method)} is not allowed; use GET\n`, { allow: 'GET, HEAD' });
  } else if (route === undefined) {
    a = text(404, `not found; try ${Object.keys(routes).join(', ')}\n`);
  } else {
    try {
      a = await route(String(req.headers.accept ?? ''));
    } catch (error) {
      a = text(500, `${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  if (res.destroyed) return;
  res.writeHead(a.status, { 'content-type': a.type, 'content-length': Buffer.byteLength(a.body), 'cache-control': 'no-store', ...a.headers });
  res.end(req.method === 'HEAD' ? undefined : a.body);
}
