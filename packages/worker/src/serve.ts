import { Server } from 'node:net';
import { dropInRuntime } from './dropin.js';
import { isHandoffWorker } from './environment.js';
import { HandoffWorkerError, WorkerErrorCode } from './errors.js';
import { WorkerRuntime } from './runtime.js';
import { markMovable } from './movable.js';
import { ConnectionTracker, type WorkerStats } from './tracker.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /**
   * Port to listen on when running alone (outside a handoff worker). Under a primary it is ignored:
   * the primary owns the ports.
   * @default Number(process.env.PORT) || 3000
   */
  readonly port?: number;
  /**
   * Host to listen on when running alone.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * Whether the worker is ready as soon as its listeners are attached. Set `false` when the app must
   * finish something first (open a database), then call `ready()` on the returned handle.
   * @default true
   */
  readonly ready?: boolean;
  /**
   * A raw `net` server only: its `'connection'` listener keeps nothing about a connection and
   * writes nothing before the connection's first byte, so a drain may move a connection that has
   * read and written nothing to another worker instead of waiting for it (as plaintext HTTP/1
   * connections always may). Leave it off for a protocol whose server speaks first (SMTP, FTP, a
   * greeting) or that holds per-connection state from the start.
   * @default false
   */
  readonly movable?: boolean;
}

/** What {@link serve} returns. */
export interface ServeHandle {
  /** True when the server takes its connections from a handoff primary; false when it listens itself. */
  readonly managed: boolean;
  /** Tells the primary this worker may get connections (after `serve(server, { ready: false })`). */
  ready(): void;
  /** Runs `hook` when a drain starts (before connections are closed): stop jobs, close a framework. */
  onDrain(hook: () => unknown): ServeHandle;
  /** Runs `hook` after the last connection closed, just before the worker exits: close the database, flush logs. */
  onShutdown(hook: () => unknown): ServeHandle;
  /** Connection and request counters of this worker. */
  stats(): WorkerStats;
}

let served: Server | undefined;

/**
 * Serves `server` (any `net.Server`: http, https, http2, tls, net; a framework through its Node
 * server) under a handoff primary, or, run alone, listens on `options.port` so the same file works
 * in development.
 *
 * @example
 * ```js
 * import { createServer } from 'node:http';
 * import { serve } from '@handoff/worker';
 *
 * serve(createServer((req, res) => res.end(`handled by child, pid: ${process.pid}\n`)));
 * ```
 */
export function serve(server: Server, options: ServeOptions = {}): ServeHandle {
  if (!(server instanceof Server)) {
    throw new HandoffWorkerError(
      WorkerErrorCode.INVALID_SERVER,
      'serve() needs a net.Server (http.createServer(), https, http2, tls or net); for a framework pass its Node server, e.g. fastify.server',
    );
  }
  checkOptions(options);
  if (served !== undefined) {
    throw new HandoffWorkerError(WorkerErrorCode.ALREADY_SERVING, 'serve() was already called in this process; serve one server per worker');
  }
  served = server;
  if (options.movable === true) markMovable(server);
  const dropIn = dropInRuntime();
  if (dropIn !== undefined) return serveDropIn(server, dropIn, options);
  if (isHandoffWorker()) {
    return managedHandle(new WorkerRuntime(server, options.ready !== false));
  }
  return serveAlone(server, options);
}

const OPTION_TYPES: Readonly<Record<keyof ServeOptions, string>> = { port: 'number', host: 'string', ready: 'boolean', movable: 'boolean' };

/** Unknown options, and options of the wrong type, are errors that name them. */
function checkOptions(options: ServeOptions): void {
  if (typeof options !== 'object' || options === null) throw new HandoffWorkerError(WorkerErrorCode.INVALID_OPTION, 'serve() options must be an object');
  for (const [key, value] of Object.entries(options)) {
    const type = Object.hasOwn(OPTION_TYPES, key) ? OPTION_TYPES[key as keyof ServeOptions] : undefined;
    if (type === undefined) throw new HandoffWorkerError(WorkerErrorCode.INVALID_OPTION, `${key} is not an option of serve(); use ${Object.keys(OPTION_TYPES).join(', ')}`);
    if (value !== undefined && typeof value !== type) throw new HandoffWorkerError(WorkerErrorCode.INVALID_OPTION, `serve() option ${key} must be a ${type}, got ${typeof value}`);
  }
}

/**
 * Under a drop-in primary (the `handoff` command runs every app so), the server listens on the port
 * it would listen on alone, and that `listen()` asks the primary like an unmodified app's: one
 * command runs apps that call `serve()` and apps that call `listen()`.
 */
function serveDropIn(server: Server, runtime: WorkerRuntime, options: ServeOptions): ServeHandle {
  if (options.ready === false) runtime.deferReady();
  // PORT=0 is a free port here (the primary binds it once for every worker), not "unset".
  const fromEnv = process.env.PORT !== undefined && /^\d+$/.test(process.env.PORT) ? Number(process.env.PORT) : undefined;
  // A host the app named is kept; none: the primary's choice (every interface unless told otherwise).
  const port = options.port ?? fromEnv ?? 3000;
  if (options.host !== undefined) server.listen(port, options.host);
  else server.listen(port);
  return managedHandle(runtime);
}

/** The handle of a server served under a primary: its runtime's readiness, hooks and counters. */
function managedHandle(runtime: WorkerRuntime): ServeHandle {
  const handle: ServeHandle = {
    managed: true,
    ready: () => runtime.markReady(),
    onDrain: (hook) => (runtime.onDrain(hook), handle),
    onShutdown: (hook) => (runtime.onShutdown(hook), handle),
    stats: () => runtime.tracker.stats(),
  };
  return handle;
}

function serveAlone(server: Server, options: ServeOptions): ServeHandle {
  const tracker = new ConnectionTracker(server);
  server.on('connection', (socket) => tracker.track(socket));
  const shutdownHooks: Array<() => unknown> = [];
  server.listen(options.port ?? (Number(process.env.PORT) || 3000), options.host ?? '127.0.0.1');
  server.once('close', () => {
    for (const hook of shutdownHooks) void hook();
  });
  const handle: ServeHandle = {
    managed: false,
    ready: () => {},
    onDrain: () => handle,
    onShutdown: (hook) => (shutdownHooks.push(hook), handle),
    stats: () => tracker.stats(),
  };
  return handle;
}
