import type { Server, Socket } from 'node:net';
import type { ListenAddress } from '@handoff/protocol';
import { debuglog } from 'node:util';
import {
  createMessage,
  HandoffError,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  subscribe,
  type ChannelEnd,
  type HandoffMessage,
  type HandoffProtocolError,
  type ListenMessage,
} from '@handoff/protocol';
import { AcceptGate } from './gate.js';
import { socketFromHandle } from './intake.js';
import { adoptSentHeader, readingProxyHeader } from './proxy.js';
import { attachListener } from './listeners.js';
import { Reporter } from './reporter.js';
import { ConnectionTracker } from './tracker.js';
import { drainConnections } from './drain.js';

const debug = debuglog('handoff');

/** How long a worker whose primary died may take to finish before it exits, in ms. */
export const ORPHAN_GRACE_MS = 500;

type Hook = () => unknown;

/**
 * Everything a worker process does for its primary, for the one server it serves: handshake,
 * attaching listeners, taking connections, reporting load, draining and exiting.
 */
export class WorkerRuntime {
  readonly tracker: ConnectionTracker;
  private readonly reporter: Reporter;
  private readonly channel: ChannelEnd;
  private readonly gate = new AcceptGate();
  private readonly sessions = new Set<{ close(): void; destroyed: boolean }>();
  private readonly drainHooks: Hook[] = [];
  private readonly shutdownHooks: Hook[] = [];
  private listenersSeen = 0;
  private listenersExpected = Number.POSITIVE_INFINITY;
  private appReady: boolean;
  private sentReady = false;
  private draining = false;
  private exiting = false;
  /** Drop-in mode: the app's server for each listener it bound through the primary. */
  private readonly routes = new Map<number, Server>();
  /** Drop-in mode: `bind` requests waiting for the primary's answer, by request number. */
  private readonly binds = new Map<number, { readonly server: Server; resolve(address: ListenAddress): void; reject(error: Error): void }>();
  private nextRequest = 1;
  /** The server that takes the connections of `listener`: the app's for it in drop-in mode, else serve()'s. */
  private serverFor(listener: number): Server | undefined {
    return this.routes.get(listener) ?? this.server;
  }

  private onSocket(socket: Socket, server: Server | undefined): void {
    if (server === undefined) {
      // Drop-in: a connection for a listener this worker never bound (cannot happen: the primary
      // only sends a listener's connections to the workers that bound it). Never hang a client.
      socket.destroy();
      return;
    }
    // net.Server's own accept path sets these; servers and frameworks read them.
    (socket as Socket & { server: Server; _server: Server }).server = server;
    (socket as Socket & { server: Server; _server: Server })._server = server;
    // ...and counts it, as its own accept path does: the socket's close decrements it.
    (server as Server & { _connections: number })._connections++;
    // ...and applies its socket options (http.Server sets noDelay: without it, responses written
    // in pieces wait on Nagle's algorithm).
    const options = server as Server & { noDelay?: boolean; keepAlive?: boolean; keepAliveInitialDelay?: number };
    if (options.noDelay === true) socket.setNoDelay(true);
    if (options.keepAlive === true) socket.setKeepAlive(true, options.keepAliveInitialDelay);
    this.tracker.track(socket);
    server.emit('connection', socket);
    // Balanced shared mode: the primary steers by every worker's open connections.
    if (this.gate.limit !== Number.POSITIVE_INFINITY) this.reporter.loadChanged(this.gate.check(this.tracker.sockets.size));
  }

  /**
   * @param server the server `serve()` was given; `undefined` in drop-in mode, where the app's own
   *   `listen()` calls bring their servers (see `bind`).
   */
  constructor(
    private readonly server: Server | undefined,
    readyNow: boolean,
  ) {
    this.channel = process as unknown as ChannelEnd;
    this.appReady = readyNow;
    this.tracker = new ConnectionTracker();
    this.reporter = new Reporter(this.channel, this.tracker);
    this.reporter.isPaused = () => this.gate.paused;
    if (server !== undefined) this.adopt(server);
    // Drop-in mode waits for the app's listen() calls instead of the primary's listeners.
    if (server === undefined) this.listenersExpected = 0;
    subscribe(this.channel, {
      message: (message, handle) => this.onMessage(message, handle),
      error: (error, handle) => this.onProtocolError(error, handle),
    });
    // The primary is gone (crashed, killed): finish quickly and exit, so no orphan keeps the port.
    process.once('disconnect', () => {
      debug('worker %d: primary disconnected, exiting', process.pid);
      void this.exit(Date.now() + ORPHAN_GRACE_MS, 0);
    });
    this.reporter.send(createMessage('hello', { pid: process.pid, capabilities: ['drain', 'load'] }));
  }

  /** Starts counting and draining `server`'s connections. */
  private adopt(server: Server): void {
    this.tracker.watch(server);
    server.on('session', (session: { close(): void; destroyed: boolean; once(e: 'close', f: () => void): void }) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
  }

  /**
   * Drop-in mode: the app called `server.listen(address)`. Asks the primary to bind `address` (or to
   * share the listener it already has for it) and resolves with where it is bound; the server then
   * gets that listener's connections. Rejects with the primary's error (e.g. `EADDRINUSE`).
   */
  bind(server: Server, address: ListenAddress, backlog: number | undefined): Promise<ListenAddress> {
    const request = this.nextRequest++;
    this.adopt(server);
    return new Promise((resolve, reject) => {
      this.binds.set(request, { server, resolve, reject });
      const message = createMessage('bind', { request, address });
      if (backlog !== undefined) (message as { backlog?: number }).backlog = backlog;
      this.reporter.send(message);
    });
  }

  /** Drop-in mode: the app called `serve(server, { ready: false })`; readiness waits for `markReady()`. */
  deferReady(): void {
    if (!this.sentReady) this.appReady = false;
  }

  /** The app says it is ready (for `serve(server, { ready: false })`). */
  markReady(): void {
    this.appReady = true;
    this.maybeSendReady();
  }

  onDrain(hook: Hook): void {
    this.drainHooks.push(hook);
  }

  onShutdown(hook: Hook): void {
    this.shutdownHooks.push(hook);
  }

  private maybeSendReady(): void {
    if (this.sentReady || !this.appReady || this.listenersSeen < this.listenersExpected || this.draining) return;
    // Drop-in: ready once the app has listened, and no listen of it is still on its way.
    if (this.server === undefined && (this.routes.size === 0 || this.binds.size > 0)) return;
    this.sentReady = true;
    this.reporter.send(createMessage('ready', {}));
  }

  private onMessage(message: HandoffMessage, handle: unknown): void {
    switch (message.type) {
      case 'connection': {
        // Node acknowledged the handle before this runs: the primary has let go of its copy, so the
        // connection is served here even while draining (the primary sends none after `drain`, so
        // only those already on their way arrive; they get `Connection: close` like the rest).
        const server = this.serverFor(message.listener);
        const allowHalfOpen = (server as (Server & { allowHalfOpen?: boolean }) | undefined)?.allowHalfOpen === true;
        const socket = socketFromHandle(handle, allowHalfOpen, message.head);
        if (message.proxy !== undefined) adoptSentHeader(socket, message.proxy);
        this.onSocket(socket, server);
        return;
      }
      case 'listen':
        void this.onListen(message, handle);
        return;
      case 'bind-error': {
        const pending = this.binds.get(message.request);
        if (pending === undefined) return;
        this.binds.delete(message.request);
        pending.reject(Object.assign(new Error(message.message), { code: message.code }));
        this.maybeSendReady();
        return;
      }
      case 'limit':
        this.gate.limit = message.open;
        if (this.gate.check(this.tracker.sockets.size)) this.reporter.loadChanged(true);
        return;
      case 'ping':
        this.reporter.send(createMessage('pong', { seq: message.seq }));
        return;
      case 'drain':
        void this.exit(Date.now() + message.timeout, 0);
        return;
      case 'shutdown':
        void this.exit(Date.now(), 0);
        return;
      default:
        // A worker-to-primary message sent to a worker: report, never crash.
        (handle as { close?: () => void } | undefined)?.close?.();
        this.reportError(ProtocolErrorCode.UNEXPECTED, `a worker got a '${message.type}' message, which only workers send`);
    }
  }

  private async onListen(message: ListenMessage, handle: unknown): Promise<void> {
    if (message.limit !== undefined) this.gate.limit = message.limit;
    const bind = message.request === undefined ? undefined : this.binds.get(message.request);
    if (bind !== undefined) {
      // The answer to a drop-in `bind`: this listener's connections go to that server.
      this.binds.delete(message.request!);
      this.routes.set(message.listener, bind.server);
    }
    const again = this.gate.known.has(message.listener);
    if (this.exiting || this.gate.armed.has(message.listener) || this.gate.arming.has(message.listener)) {
      // A re-arm that crossed a drain or a duplicate re-arm: this copy is not needed.
      (handle as { close?: () => void } | undefined)?.close?.();
      return;
    }
    if (again) this.gate.paused = false;
    this.gate.known.add(message.listener);
    if (bind === undefined) this.listenersExpected = message.listeners;
    try {
      if (message.mode !== 'primary') {
        this.gate.arming.add(message.listener);
        const acceptor = await attachListener(message, handle, readingProxyHeader(message, (socket: Socket) => this.onSocket(socket, this.serverFor(message.listener)))).finally(() => this.gate.arming.delete(message.listener));
        if (this.exiting) acceptor.close();
        else this.gate.armed.set(message.listener, acceptor);
      }
      if (again) {
        this.reporter.loadChanged(true);
        return;
      }
      if (bind !== undefined) {
        bind.resolve(message.address);
        this.maybeSendReady();
        return;
      }
      this.listenersSeen++;
      this.maybeSendReady();
    } catch (error) {
      if (bind !== undefined) {
        bind.reject(error as Error);
        this.maybeSendReady();
        return;
      }
      const e = error instanceof HandoffError ? error : new HandoffError('HANDOFF_ERR_LISTEN_FAILED', String(error));
      this.reportError(e.code, e.message);
      // A worker that cannot serve its listeners is useless: exit so the primary replaces it.
      void this.exit(Date.now(), 1);
    }
  }

  private onProtocolError(error: HandoffProtocolError, handle: unknown): void {
    (handle as { close?: () => void } | undefined)?.close?.();
    debug('worker %d: %s', process.pid, error.message);
    this.reportError(error.code, error.message);
    if (error.code === 'HANDOFF_ERR_PROTOCOL_VERSION') {
      process.emitWarning(`handoff worker (protocol v${PROTOCOL_VERSION}): ${error.message}`, { code: error.code });
    }
  }

  private reportError(code: string, message: string): void {
    this.reporter.send(createMessage('error', { code, message: message.slice(0, 4096) }));
  }

  /**
   * Stops taking connections, drains until `deadline`, runs the hooks and exits. Idempotent: a
   * `shutdown` during a drain moves the deadline closer.
   */
  private async exit(deadline: number, code: number): Promise<void> {
    if (this.exiting) {
      if (deadline < this.deadline) this.forceAt(deadline);
      return;
    }
    this.exiting = true;
    this.draining = true;
    this.deadline = deadline;
    this.gate.close();
    this.reporter.send(createMessage('draining', { phase: 'started', open: this.tracker.sockets.size }));
    await runHooks(this.drainHooks);
    const servers = this.server === undefined ? [...new Set(this.routes.values())] : [this.server];
    await Promise.race([drainConnections({ servers, tracker: this.tracker, sessions: this.sessions }, deadline), this.forced]);
    this.reporter.send(createMessage('draining', { phase: 'idle', open: this.tracker.sockets.size }));
    await runHooks(this.shutdownHooks);
    this.reporter.stop();
    // Let the last messages reach the primary before the channel closes with the process.
    setImmediate(() => process.exit(code));
  }

  private deadline = Number.POSITIVE_INFINITY;
  private forceResolve: (() => void) | undefined;
  private readonly forced = new Promise<void>((resolve) => {
    this.forceResolve = resolve;
  });

  private forceAt(deadline: number): void {
    this.deadline = deadline;
    setTimeout(() => {
      for (const socket of this.tracker.sockets) socket.destroy();
      this.forceResolve?.();
    }, Math.max(0, deadline - Date.now()));
  }
}

async function runHooks(hooks: readonly Hook[]): Promise<void> {
  for (const hook of hooks) {
    try {
      await hook();
    } catch (error) {
      debug('hook failed: %o', error);
    }
  }
}
