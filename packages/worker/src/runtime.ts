// Longer than most modules: the worker's side of the protocol, one handler per message the primary
// sends; serving (served.ts), the way out (shutdown.ts), acceptors (gate.ts, listeners.ts) are apart.
import type { Server, Socket } from 'node:net';
import { debuglog } from 'node:util';
import type { WorkerIntake } from '@handoff/fdpass';
import {
  connectionPayloadOf,
  createMessage,
  HandoffError,
  Requests,
  MAX_STRING,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  subscribe,
  type ChannelEnd,
  type HandoffMessage,
  type HandoffProtocolError,
  type ListenAddress,
  type ListenMessage,
  type MessageOf,
  type PrimaryMessage,
} from '@handoff/protocol';
import { HandoffWorkerError, WorkerErrorCode } from './errors.js';
import { AcceptGate } from './gate.js';
import { readingProxyHeader } from './proxy.js';
import { attachListener } from './listeners.js';
import { ConnectionMover, tagListener } from './move.js';
import { openLink } from './link.js';
import { collectAppMetrics } from './app-metrics.js';
import { Outbox } from './outbox.js';
import { Reporter } from './reporter.js';
import { ListenIndexes } from './indexes.js';
import { Releasing } from './requests.js';
import { ServedServer } from './served.js';
import { drainOnSignals } from './signals.js';
import { survivePipeErrors } from './stdio.js';
import { Shutdown } from './shutdown.js';
import { ConnectionTracker } from './tracker.js';

const debug = debuglog('handoff');

/** How long a worker whose primary died may take to finish before it exits, in ms. */
export const ORPHAN_GRACE_MS = 500;

type Handlers = { readonly [T in PrimaryMessage['type']]: (message: MessageOf<T>, handle: unknown) => void };
interface Bind {
  readonly served: ServedServer;
  /** The stand-in the server held when it asked: another one (or none) by the answer means it closed meanwhile. */
  readonly handle: object;
  resolve(address: ListenAddress | undefined): void;
  reject(error: Error): void;
  /** Set when the app closed the server while this was on its way: its 'close' waits for the answer (see onAppClose). */
  closing?: () => void;
}

/** What a drop-in `listen()` asks the primary for (see {@link WorkerRuntime.bind}). */
export interface BindAsk {
  readonly address: ListenAddress;
  readonly backlog?: number;
  /** `node:cluster`'s key of the address (`address:port:addressType:fd`), under which `listen()`s are counted. */
  readonly key: string;
  readonly exclusive?: boolean;
  readonly ipv6Only?: boolean;
}

/**
 * Everything a worker process does for its primary: handshake, attaching listeners, taking
 * connections for the app's servers, reporting load, draining and exiting. One server in `serve()`
 * mode; in drop-in mode, every server the app's own `listen()` calls bring (see `bind`).
 */
export class WorkerRuntime {
  readonly tracker = new ConnectionTracker();
  private readonly channel = process as unknown as ChannelEnd;
  private readonly outbox: Outbox;
  private readonly reporter: Reporter;
  private readonly gate = new AcceptGate();
  private readonly sessions = new Set<{ close(): void; destroyed: boolean }>();
  /** The server `serve()` was given: it takes every listener. `undefined` in drop-in mode. */
  private readonly main: ServedServer | undefined;
  /** The app's servers, each as served here. */
  private readonly served = new Map<Server, ServedServer>();
  /** Drop-in mode: the server that takes each listener's connections (the one whose listen() bound it). */
  private readonly routes = new Map<number, ServedServer>();
  /** Drop-in mode: `bind` requests waiting for the primary's answer. */
  private readonly binds = new Requests<Bind>();
  /** Drop-in mode: how many open servers asked for each address, as cluster's workers count them. */
  private readonly indexes = new ListenIndexes();
  /**
   * Drop-in mode: `unlisten`s the primary is to answer, by listener, in order. Alone, a server's
   * close() frees its port at once; here the primary frees it, so the app's server emits `'close'`
   * (and its close() callback runs) once the primary has answered, and another process, or another
   * server of the app, finds the port free when the app hears it closed.
   */
  private readonly releasing = new Releasing();
  /** Drop-in mode: each server's `bind` still on its way, if any. */
  private readonly asking = new Map<ServedServer, Bind>();
  /** Drop-in mode: whether the IPC channel holds the process open (see `updateLive`). */
  private live = true;
  private listenersSeen = 0;
  private listenersExpected = Number.POSITIVE_INFINITY;
  private appReady: boolean;
  private sentReady = false;
  private readonly shutdown: Shutdown;

  /** One handler per message the primary sends, as Node's cluster primary maps its `act`s. */
  private readonly handlers: Handlers = {
    // A connection on the IPC channel: into the transport's intake, the worker's one way in (see openLink).
    connection: (message, handle) => this.link.receive(handle, message.listener, connectionPayloadOf(message)),
    listen: (message, handle) => void this.onListen(message, handle),
    'bind-error': (message) => {
      const bind = this.binds.settle(message.request);
      if (bind === undefined) return;
      this.asking.delete(bind.served);
      bind.closing?.();
      if (bind.served.holds(bind.handle)) {
        this.indexes.free(bind.served);
        bind.served.failed();
        bind.reject(Object.assign(new Error(message.message), { code: message.code }));
      } else bind.resolve(undefined);
      this.maybeSendReady();
    },
    unlistened: (message) => this.releasing.settle(message.listener),
    limit: (message) => {
      this.gate.limit = message.open;
      if (this.gate.check(this.tracker.sockets.size)) this.reporter.loadChanged(true);
    },
    ping: (message) => this.outbox.send(createMessage('pong', { seq: message.seq })),
    drain: (message) => void this.exit(Date.now() + message.timeout, 0, message.move === true),
    shutdown: () => void this.exit(Date.now(), 0),
    'metrics-request': (message) => void collectAppMetrics().then((answer) => this.outbox.send(createMessage('metrics', { seq: message.seq, ...answer }))),
  };

  /** The native link from the primary (`@handoff/fdpass`), read where it was given and the addon loads. */
  private readonly link: WorkerIntake;

  /**
   * @param server the server `serve()` was given; `undefined` in drop-in mode, where the app's own
   *   `listen()` calls bring their servers (see `bind`).
   */
  constructor(server: Server | undefined, readyNow: boolean) {
    this.appReady = readyNow;
    this.outbox = new Outbox(this.channel);
    this.reporter = new Reporter(this.outbox, this.tracker, () => this.gate.paused);
    const mover = new ConnectionMover((message, handle, done) => this.outbox.send(message, handle, done));
    this.shutdown = new Shutdown({ gate: this.gate, reporter: this.reporter, outbox: this.outbox, tracker: this.tracker, sessions: this.sessions, served: this.served, mover });
    this.main = server === undefined ? undefined : this.serve(server);
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
    drainOnSignals((deadline) => void this.exit(deadline, 0));
    // A stdout or stderr whose reader went away must not take the worker and its connections down.
    survivePipeErrors(process.stdout);
    survivePipeErrors(process.stderr);
    // Mode primary: connections come through the transport's intake, on the native link the primary
    // gave this worker or on the IPC channel (the 'connection' handler), into the same onSocket.
    this.link = openLink({
      serverFor: (listener) => this.servedFor(listener),
      take: (socket, listener) => this.onSocket(socket, listener, this.servedFor(listener)),
      giveBack: (fields, handle) => this.outbox.send(createMessage('return', fields), handle),
    });
    this.outbox.send(createMessage('hello', { pid: process.pid, capabilities: this.link.transport === 'native' ? ['drain', 'load', 'fdpass'] : ['drain', 'load'] }));
    // Drop-in mode: no server of the app listens yet.
    this.updateLive();
  }

  /** The app's `server` as served here (made on first use): counted, drained, closed as Node would. */
  private serve(server: Server): ServedServer {
    let served = this.served.get(server);
    if (served !== undefined) return served;
    served = new ServedServer(server, (s) => this.onAppClose(s), (socket) => this.tracker.track(socket), () => this.updateLive());
    this.served.set(server, served);
    this.tracker.watch(server);
    server.on('session', (session: { close(): void; destroyed: boolean; once(e: 'close', f: () => void): void }) => {
      this.sessions.add(session);
      session.once('close', () => this.sessions.delete(session));
    });
    return served;
  }

  /** The server that takes the connections of `listener`: the app's for it in drop-in mode, else serve()'s. */
  private servedFor(listener: number): ServedServer | undefined {
    return this.routes.get(listener) ?? this.main;
  }

  /**
   * Drop-in mode: the app's `server.listen()` asks the primary to bind `ask.address` (or to share
   * the listener it has for it). Returns the stand-in handle the server holds from now on, and the
   * answer: where it is bound once the server takes that listener's connections, `undefined` when
   * the app closed the server first (or the worker is on its way out), or the primary's error
   * (`EADDRINUSE`…).
   */
  bind(server: Server, ask: BindAsk): { readonly handle: object; readonly answer: Promise<ListenAddress | undefined> } {
    const served = this.serve(server);
    const handle = served.open(ask.address);
    const index = this.indexes.take(served, ask.key);
    const answer = new Promise<ListenAddress | undefined>((resolve, reject) => {
      const bind: Bind = { served, handle, resolve, reject };
      this.asking.set(served, bind);
      const request = this.binds.open(bind);
      const fields: Record<string, unknown> = { request, address: ask.address };
      if (ask.backlog !== undefined) fields.backlog = ask.backlog;
      if (index > 0) fields.index = index;
      if (ask.exclusive === true) fields.exclusive = true;
      if (ask.ipv6Only === true) fields.ipv6Only = true;
      this.outbox.send(createMessage('bind', fields as { request: number; address: ListenAddress }));
    });
    return { handle, answer };
  }

  /**
   * Drop-in mode: the IPC channel holds the worker's process open only while one of the app's
   * servers listens and is not unref()ed, as a listening handle would: an app whose last server
   * closed, or that unref()ed its servers, ends when it has nothing else to do, as it would alone.
   */
  private updateLive(): void {
    if (this.main !== undefined) return;
    let live = false;
    for (const served of this.served.values()) if (served.live) live = true;
    if (live === this.live) return;
    this.live = live;
    const channel = (process as { channel?: { ref?(): void; unref?(): void } }).channel;
    if (live) channel?.ref?.();
    else channel?.unref?.();
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

  onDrain(hook: () => unknown): void {
    this.shutdown.onDrain(hook);
  }

  onShutdown(hook: () => unknown): void {
    this.shutdown.onShutdown(hook);
  }

  /** Stops taking connections, drains until `deadline` (moving connections between requests with `move`) and exits with `code` (see `Shutdown`). */
  private exit(deadline: number, code: number, move = false): Promise<void> {
    return this.shutdown.exit(deadline, code, move);
  }

  private maybeSendReady(): void {
    if (this.sentReady || !this.appReady || this.listenersSeen < this.listenersExpected || this.shutdown.started) return;
    // Drop-in: ready once the app has listened, and no listen of it is still on its way.
    if (this.main === undefined && (this.routes.size === 0 || this.binds.size > 0)) return;
    this.sentReady = true;
    this.outbox.send(createMessage('ready', {}));
  }

  private onMessage(message: HandoffMessage, handle: unknown): void {
    const handler = Object.hasOwn(this.handlers, message.type) ? (this.handlers as unknown as Record<string, (m: HandoffMessage, h: unknown) => void>)[message.type] : undefined;
    if (handler !== undefined) {
      handler(message, handle);
      return;
    }
    // A worker-to-primary message sent to a worker: report, never crash.
    (handle as { close?: () => void } | undefined)?.close?.();
    this.reportError(ProtocolErrorCode.UNEXPECTED, `a worker got a '${message.type}' message, which only workers send`);
  }

  private onSocket(socket: Socket, listener: number, served: ServedServer | undefined, acceptor?: Server): void {
    if (served === undefined || served.closed) {
      // Kernel modes: an acceptor closes with its server, so nothing arrives for a closed one; never hang a client.
      socket.destroy();
      return;
    }
    // A drain may give it back to the primary, for this listener.
    tagListener(socket, listener);
    if (!served.accept(socket, acceptor)) return;
    // Balanced shared mode: the primary steers by every worker's open connections.
    if (this.gate.limit !== Number.POSITIVE_INFINITY) this.reporter.loadChanged(this.gate.check(this.tracker.sockets.size));
  }

  private async onListen(message: ListenMessage, handle: unknown): Promise<void> {
    if (message.limit !== undefined) this.gate.limit = message.limit;
    const bind = this.binds.settle(message.request);
    if (bind !== undefined && this.asking.get(bind.served) === bind) this.asking.delete(bind.served);
    if (bind !== undefined && (this.shutdown.started || !bind.served.holds(bind.handle))) {
      // The app closed the server (or listened anew) while its listen() was on its way, or the
      // worker is on its way out: the primary counts this worker as holding the listener, so say
      // not; the closed server's 'close' waits until the primary let go of it.
      (handle as { close?: () => void } | undefined)?.close?.();
      if (this.shutdown.started) bind.closing?.();
      else {
        this.outbox.send(createMessage('unlisten', { listener: message.listener }));
        if (bind.closing !== undefined) this.releasing.wait(message.listener, bind.closing);
      }
      bind.resolve(undefined);
      this.maybeSendReady();
      return;
    }
    // The answer to a drop-in `bind`: this listener's connections go to that server.
    if (bind !== undefined) this.routes.set(message.listener, bind.served);
    const served = this.servedFor(message.listener);
    if (this.shutdown.started || served === undefined || served.closed || this.gate.holds(message.listener)) {
      // A re-arm that crossed a drain or the app's close(), or a duplicate re-arm: this copy is not needed.
      (handle as { close?: () => void } | undefined)?.close?.();
      return;
    }
    const again = this.gate.begin(message.listener);
    if (bind === undefined) this.listenersExpected = message.listeners;
    try {
      if (message.mode !== 'primary') {
        const onSocket = readingProxyHeader(message, (socket: Socket, from: Server) => this.onSocket(socket, message.listener, this.servedFor(message.listener), from), (code) => this.reporter.proxyRefused(code));
        await this.gate.arm(
          message.listener,
          () => attachListener(message, handle, served.server, onSocket),
          () => !this.shutdown.started && !served.closed,
        );
      }
      if (again) {
        this.reporter.loadChanged(true);
        return;
      }
      if (bind !== undefined) {
        served.bound(message.listener, message.address);
        bind.resolve(message.address);
        // Ready once the app has heard 'listening' (Node emits it a tick after the set-up that
        // this answer lets run, see dropin.ts), as its own log says when alone.
        setImmediate(() => this.maybeSendReady());
        return;
      }
      served.attach(message.listener, message.address);
      this.listenersSeen++;
      this.maybeSendReady();
    } catch (error) {
      if (bind !== undefined) {
        this.routes.delete(message.listener);
        if (!this.shutdown.started) this.outbox.send(createMessage('unlisten', { listener: message.listener }));
        this.indexes.free(bind.served);
        bind.served.failed();
        bind.reject(error as Error);
        this.maybeSendReady();
        return;
      }
      const e = error instanceof HandoffError ? error : new HandoffWorkerError(WorkerErrorCode.LISTEN_FAILED, String(error), { cause: error });
      this.reportError(e.code, e.message);
      // A worker that cannot serve its listeners is useless: exit so the primary replaces it.
      void this.exit(Date.now(), 1);
    }
  }

  /**
   * The app closed one of its servers: its acceptors close, and the primary sends it no more of its
   * listeners' connections (those already on their way come back, see `onConnection`).
   */
  private onAppClose(served: ServedServer): void {
    for (const listener of served.listeners()) {
      this.gate.disarm(listener);
      if (this.shutdown.started) continue;
      this.outbox.send(createMessage('unlisten', { listener }));
      // Drop-in: 'close' waits until the primary let go of the port (see releasing).
      if (this.main === undefined) {
        this.routes.delete(listener);
        this.releasing.wait(listener, served.holdClose());
      }
    }
    // Its listen() is still on its way: the primary may bind for it meanwhile (see onListen).
    const pending = this.asking.get(served);
    if (pending !== undefined && this.main === undefined && !this.shutdown.started) pending.closing = served.holdClose();
    this.indexes.free(served);
  }

  private onProtocolError(error: HandoffProtocolError, handle: unknown): void {
    (handle as { close?: () => void } | undefined)?.close?.();
    debug('worker %d: %s', process.pid, error.message);
    this.reportError(error.code, error.message);
    if (error.code === ProtocolErrorCode.VERSION) {
      process.emitWarning(`handoff worker (protocol v${PROTOCOL_VERSION}): ${error.message}`, { code: error.code });
    }
  }

  private reportError(code: string, message: string): void {
    this.outbox.send(createMessage('error', { code, message: message.slice(0, MAX_STRING) }));
  }
}
