// Longer than most modules: one class owns a worker's state, so every field is private and read
// through a getter, and the named transitions below are its only writers.
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Connection, LinkHooks, PrimaryTransport, TransportName, WorkerLink } from '@handoff/fdpass';
import { createMessage, HandoffProtocolError, ProtocolErrorCode, Requests, subscribe, type BindMessage, type ChannelEnd, type HandoffMessage, type MessageOf, type MetricsMessage, type PongMessage, type ReturnMessage, type WorkerMessage } from '@handoff/protocol';
import type { WorkerView } from '@handoff/policies';
import { forkWorker } from './fork.js';
import { writeStderr } from './stdio.js';
import type { NativeHandle } from './types.js';
import type { ProxiedPeer } from './proxy-intake.js';
import type { ResolvedOptions } from './options.js';

/** Where a worker is in its life. */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

/** The moves a worker's state may make; any other is a bug of the primary's. */
const TRANSITIONS: Readonly<Record<WorkerState, readonly WorkerState[]>> = {
  starting: ['ready', 'draining', 'exited'],
  ready: ['draining', 'exited'],
  draining: ['exited'],
  exited: [],
};

/**
 * How a worker's life may end: whether its slot counts the exit as a crash (and refills it after the
 * backoff), and the reason's rank. A transition records its reason unless one of a higher or equal
 * rank is recorded already: a worker refused for its protocol version that the primary then asks to
 * go is still a refused one; one stuck while it drains was asked to go.
 */
export const ENDINGS = Object.freeze({
  /** Nothing asked it to go: it crashed, or exited on its own. */
  crashed: { crash: true, rank: 0 },
  /** The heartbeat found it stuck (or stopped) and killed it. */
  unresponsive: { crash: true, rank: 1 },
  /** The primary asked it to go: drain, reload, scale down, recycling, close. */
  requested: { crash: false, rank: 2 },
  /** Killed for not being ready within `readyTimeout`. */
  'ready-timeout': { crash: true, rank: 3 },
  /** Refused for another protocol version (its slot waits the longest restart delay). */
  refused: { crash: true, rank: 3 },
  /** Forked to replace a worker gracefully, it never became ready: that replacement failed, not its slot. */
  'failed-replacement': { crash: false, rank: 4 },
} as const);

/** One of {@link ENDINGS}. */
export type ExitReason = keyof typeof ENDINGS;

/** What a request to the worker came to: its answer, or why there is none. */
export type RequestResult<A> = { readonly status: 'answered'; readonly answer: A } | { readonly status: 'timeout' } | { readonly status: 'exited' };

/** The requests a worker answers, and their answers (the same `seq`). */
interface Answers {
  ping: PongMessage;
  'metrics-request': MetricsMessage;
}

/** Illegal transitions throw in development and tests; in production they are logged by the caller's debug. */
const STRICT = process.env.NODE_ENV !== 'production';

/** How many of a worker's last stderr lines are kept, to explain a failed start. */
const STDERR_LINES = 20;

/** How long after a worker's exit its channel may take to report closed, in ms. */
const CHANNEL_CLOSE_WAIT_MS = 1000;

/**
 * A connection the primary holds until a worker acknowledges it: the transport's (its fd or its
 * handle, the peer, `attempts`) with what the primary read of it first.
 */
export interface PendingConnection extends Connection {
  /** On a `proxyProtocol` listener: the client its PROXY header names, read before the pick (the header itself travels in `payload`). */
  proxied?: ProxiedPeer;
  /** A connection a drain moved that already carried requests (an idle keep-alive one). */
  reused?: boolean;
  /** A connection a drain moved: it goes to a worker of this id or later where one is ready (a newer generation). */
  preferFrom?: number;
}

/** What a worker's link tells the dispatcher (`@handoff/fdpass`'s hooks, with the worker). */
export interface LinkListener {
  /** The worker holds `count` more connections (0: its link takes connections again). */
  acknowledged(worker: WorkerProcess, count: number): void;
  /** Connections the worker never took, oldest first: a handle that did not arrive, or what its ended link held. */
  returnedByLink(worker: WorkerProcess, returned: readonly Connection[], reason: 'not-received' | 'worker-exit'): void;
}

/** Events of a {@link WorkerProcess}, for the primary. */
export interface WorkerProcessEvents {
  hello: [];
  ready: [];
  load: [];
  draining: [phase: 'started' | 'idle', open: number];
  /** Drop-in mode: the worker's app called listen(). */
  bind: [message: BindMessage];
  /** Drop-in mode: the worker now takes the connections of this listener. */
  bound: [listener: number];
  /** The worker's app closed the server of this listener: send it none of its connections. */
  unlisten: [listener: number];
  /** A connection that reached the worker after its server closed, given back to be placed again. */
  return: [message: ReturnMessage, handle: NativeHandle];
  /** Kernel modes: connections it closed for want of a valid PROXY header since its last report, by code. */
  'proxy-refused': [counts: Readonly<Record<string, number>>];
  'protocol-error': [error: HandoffProtocolError];
  'worker-error': [code: string, message: string];
  /** With `output: 'pipe'`: bytes the worker wrote to its stdout or stderr, as they came. */
  output: [stream: 'stdout' | 'stderr', chunk: Buffer];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

/** What a {@link WorkerProcess} is told at birth by the supervisor that owns it. */
export interface WorkerProcessSettings {
  readonly id: number;
  readonly slot: number;
  /** The worker count the primary aims at when it forks this one (`HANDOFF_INSTANCES`). */
  readonly instances: number;
  /** Mode primary: the primary counts the connections it sends (the worker reports the closes). */
  readonly countsDispatch: boolean;
  /** Mode primary: the transport that carries connections to it; undefined in the kernel modes (none cross). */
  readonly transport: PrimaryTransport | undefined;
  /** Told what the worker's link acknowledges, refuses and gives back. */
  readonly links: LinkListener | undefined;
  /** The worker it replaces gracefully (reload, recycling): until it is ready, its failure to start fails that replacement, not its slot. */
  readonly replaces?: WorkerProcess | undefined;
}

type Handlers = { readonly [T in WorkerMessage['type']]: (worker: WorkerProcess, message: MessageOf<T>, handle: unknown) => void };

/** One handler per message a worker sends, as Node's cluster primary maps its `act`s. */
const HANDLERS: Handlers = {
  hello: (w) => w.emit('hello'),
  ready: (w) => w.becomeReady(),
  load: (w, m) => {
    w.applyLoad(m);
    w.emit('load');
    if (m.proxyRefused !== undefined) w.emit('proxy-refused', m.proxyRefused);
  },
  draining: (w, m) => w.emit('draining', m.phase, m.open),
  bind: (w, m) => w.emit('bind', m),
  pong: (w, m) => w.answered(m.seq, m),
  unlisten: (w, m) => w.emit('unlisten', m.listener),
  return: (w, m, handle) => w.emit('return', m, handle as NativeHandle),
  error: (w, m) => w.emit('worker-error', m.code, m.message),
  metrics: (w, m) => w.answered(m.seq, m),
};

/**
 * One forked worker, as the primary sees it: its process, its protocol channel, its state and the
 * load figures policies read. It is also the `WorkerView` handed to `policy.pick`, so a pick needs no
 * lookup. It owns its state: others read it and ask for changes through named transitions.
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> implements WorkerView {
  readonly id: number;
  readonly slot: number;
  readonly child: ChildProcess;
  readonly spawnedAt = Date.now();
  readonly weight = 1;
  /** Drop-in mode: the listeners this worker's app bound (it gets only their connections). */
  readonly dropInListeners = new Set<number>();
  private current: WorkerState = 'starting';
  private readyAt = 0;
  /** Why it leaves service, once a transition said so (see ENDINGS); undefined while nothing did. */
  private ending: Exclude<ExitReason, 'crashed' | 'failed-replacement'> | undefined;
  /** With `ending` 'refused': the error it was refused with. */
  private refusedWith: HandoffProtocolError | undefined;
  private readonly successorOf: WorkerProcess | undefined;
  /** Requests sent to it and awaiting its answer, one number space for all (`ping`, `metrics-request`). */
  private readonly pending = new Requests<(result: RequestResult<never>) => void>();
  private open = 0;
  private served = 0;
  private loopDelay = 0;
  private loopDelayP50 = 0;
  private loadAt = 0;
  private resident = 0;
  private heap = 0;
  private pausedNow = false;
  /** Connections it reported closed, summed over its `load` reports. */
  private closedTotal = 0;
  /**
   * The transport's link to this worker (`@handoff/fdpass`), where connections cross (mode
   * primary; in the shared modes only the ones a drain moves). It holds the connections sent and not
   * yet acknowledged, at most its cap, and carries every message with a handle.
   */
  private readonly link: WorkerLink | undefined;
  private readonly countsDispatch: boolean;
  private readonly stderrTail: string[] = [];
  private exitedWith: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };

  constructor(settings: WorkerProcessSettings, options: ResolvedOptions) {
    super();
    this.id = settings.id;
    this.slot = settings.slot;
    this.countsDispatch = settings.countsDispatch;
    this.successorOf = settings.replaces;
    const plan = settings.transport?.prepareSpawn();
    try {
      this.child = forkWorker(settings, options, plan);
    } catch (error) {
      plan?.cancel();
      throw error;
    }
    // Before the exit handlers below: a dead worker's link gives back what it never took first.
    this.link = plan?.attach(this.child, hooksFor(this, settings.links));
    const piped = options.output === 'pipe';
    this.child.stdout?.on('data', (chunk: Buffer) => this.emit('output', 'stdout', chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => {
      if (piped) this.emit('output', 'stderr', chunk);
      else writeStderr(chunk);
      const lines = chunk.toString('utf8').split('\n').filter((l) => l !== '');
      this.stderrTail.push(...lines);
      if (this.stderrTail.length > STDERR_LINES) this.stderrTail.splice(0, this.stderrTail.length - STDERR_LINES);
    });
    // A failed send (channel closed as the worker dies) is dealt with by the 'exit' handler.
    this.child.on('error', () => {});
    const unsubscribe = subscribe(this.child as unknown as ChannelEnd, {
      message: (message, handle) => this.onMessage(message, handle),
      error: (error, handle) => {
        (handle as NativeHandle | undefined)?.close?.();
        this.emit('protocol-error', error);
      },
    });
    // 'exit' (from SIGCHLD) can come before the last messages on the channel are read. An
    // acknowledgement still in the pipe must be seen before the exit, or a connection the worker took
    // would be re-dispatched half-read: so the exit is reported once the channel has closed too
    // (Node reads the pipe to EOF first), with a bound in case it never says so.
    let exited = false;
    let disconnected = !this.child.connected;
    const report = (): void => {
      if (this.current === 'exited') return;
      unsubscribe();
      this.moveTo('exited');
      for (const settle of this.pending.cancelAll()) settle({ status: 'exited' });
      this.emit('exit', this.exitedWith.code, this.exitedWith.signal);
    };
    this.child.once('disconnect', () => {
      disconnected = true;
      if (exited) report();
    });
    this.child.once('exit', (code, signal) => {
      exited = true;
      this.exitedWith = { code, signal };
      if (disconnected) report();
      else setTimeout(report, CHANNEL_CLOSE_WAIT_MS).unref();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }
  get state(): WorkerState {
    return this.current;
  }
  /** When it became ready, ms since the epoch; 0 while it never was. */
  get readySince(): number {
    return this.readyAt;
  }
  /** Open connections as the primary knows them. */
  get connections(): number {
    return this.open;
  }
  /** Connections it reported closed since it started (every `load`'s `closed`, summed). */
  get closes(): number {
    return this.closedTotal;
  }
  /** Connections sent and not yet acknowledged by the worker: what `inFlight` / `oneInFlight` policies read. */
  get inFlight(): number {
    return this.link === undefined ? 0 : this.link.unacknowledged;
  }
  /** Of `inFlight`, those sent in an earlier turn of the primary's loop (see `WorkerLink.unacknowledgedBeforeThisTurn`): what `oneInFlight` reads. */
  get inFlightBeforeThisTurn(): number {
    return this.link === undefined ? 0 : this.link.unacknowledgedBeforeThisTurn;
  }
  /** Its link takes one more connection now (open, under its cap of unacknowledged ones). */
  get canTake(): boolean {
    return this.link !== undefined && this.link.canSend;
  }
  /** Diagnostics: the transport its connections cross on now; undefined without a link. */
  get linkTransport(): TransportName | undefined {
    return this.link?.transport;
  }
  get requests(): number {
    return this.served;
  }
  get eventLoopDelay(): number {
    return this.loopDelay;
  }
  /** When its last load report arrived, ms on the primary's monotonic clock (`timeOrigin + now()`); 0 before the first. */
  get reportedAt(): number {
    return this.loadAt;
  }
  get eventLoopDelayP50(): number {
    return this.loopDelayP50;
  }
  get rss(): number {
    return this.resident;
  }
  get heapUsed(): number {
    return this.heap;
  }
  /** Balanced shared mode: it closed its acceptors at its limit, as of its last report. */
  get paused(): boolean {
    return this.pausedNow;
  }
  /** True when it was killed for not becoming ready within `readyTimeout`. */
  get readyTimedOut(): boolean {
    return this.ending === 'ready-timeout';
  }
  /** Why the primary refused it (another protocol version), if it did. */
  get refusal(): HandoffProtocolError | undefined {
    return this.ending === 'refused' ? this.refusedWith : undefined;
  }
  /** True once the primary asked it to go (drain, reload, scale down, close). */
  get expectedExit(): boolean {
    return this.ending === 'requested';
  }
  /** The worker this one replaces gracefully (reload, recycle), until it is ready: its failure to start fails that replacement, no crash. */
  get replacing(): WorkerProcess | undefined {
    return this.readyAt === 0 ? this.successorOf : undefined;
  }
  /** How its life ends (or would, were it to exit now): see ENDINGS. */
  get exitReason(): ExitReason {
    if (this.replacing !== undefined) return 'failed-replacement';
    return this.ending ?? 'crashed';
  }
  /** Whether its exit counts as a crash of its slot (which is then refilled after the backoff). */
  get exitIsCrash(): boolean {
    return ENDINGS[this.exitReason].crash;
  }
  get exitCode(): number | null {
    return this.exitedWith.code;
  }
  get signalCode(): NodeJS.Signals | null {
    return this.exitedWith.signal;
  }

  /** The last lines the worker wrote to stderr. */
  stderr(): string {
    return this.stderrTail.join('\n');
  }

  // ---- transitions, asked for by the supervisor ----------------------------------------------

  /** Records why it ends, unless a reason of a higher or equal rank is recorded already (see ENDINGS). */
  private endFor(reason: Exclude<ExitReason, 'crashed' | 'failed-replacement'>): boolean {
    if (this.ending !== undefined && ENDINGS[this.ending].rank >= ENDINGS[reason].rank) return false;
    this.ending = reason;
    return true;
  }

  /** The primary asks it to go: its exit is no crash. */
  expectExit(): void {
    this.endFor('requested');
  }

  /** A replacement of it failed to start: it stays in service, and its exit would be a crash again. */
  keepInService(): void {
    if (this.ending === 'requested' && (this.current === 'ready' || this.current === 'starting')) this.ending = undefined;
  }

  /** It was killed for taking longer than `readyTimeout` to be ready. */
  markReadyTimedOut(): void {
    this.endFor('ready-timeout');
  }

  /** The primary refuses it (its protocol version); returns false if it was refused already. */
  refuse(error: HandoffProtocolError): boolean {
    if (this.ending === 'refused' || !this.endFor('refused')) return false;
    this.refusedWith = error;
    return true;
  }

  /** Out of the pickable set, on its way out; returns whether it was ready. */
  beginDrain(): boolean {
    this.endFor('requested');
    const wasReady = this.current === 'ready';
    if (this.current === 'starting' || this.current === 'ready') this.moveTo('draining');
    return wasReady;
  }

  /**
   * The heartbeat found it stuck (or stopped: SIGSTOP) and it is being killed: out of the pickable
   * set at once, not when its exit is seen (a stopped worker's channel may take a while to close).
   * Its exit is a crash of its slot, unless the primary had asked it to go; returns whether it was ready.
   */
  declareUnresponsive(): boolean {
    this.endFor('unresponsive');
    const wasReady = this.current === 'ready';
    if (this.current === 'starting' || this.current === 'ready') this.moveTo('draining');
    return wasReady;
  }

  /** It said `ready` (once; only a starting worker becomes ready). */
  becomeReady(): void {
    if (this.current !== 'starting') return;
    this.moveTo('ready');
    this.readyAt = Date.now();
    this.emit('ready');
  }

  private moveTo(to: WorkerState): void {
    if (!TRANSITIONS[this.current].includes(to) && STRICT) {
      throw new Error(`worker ${this.id}: illegal state transition ${this.current} -> ${to}`);
    }
    this.current = to;
  }

  // ---- connections ----------------------------------------------------------------------------

  /** Mode primary: a connection was sent to it. */
  countDispatched(): void {
    this.open++;
  }

  /** Mode primary: a connection sent to it never reached it. */
  uncountDispatched(): void {
    this.open = Math.max(0, this.open - 1);
  }

  /** Applies a `load` report. */
  applyLoad(message: MessageOf<'load'>): void {
    this.served = message.requests;
    this.loopDelay = message.eventLoopDelay;
    this.loopDelayP50 = message.eventLoopDelayP50 ?? 0;
    // Monotonic, so that policies that smooth over time (peakEwma) never see it go back.
    this.loadAt = performance.timeOrigin + performance.now();
    if (message.rss > 0) this.resident = message.rss;
    if (message.heapUsed > 0) this.heap = message.heapUsed;
    this.pausedNow = message.paused === true;
    this.closedTotal += message.closed;
    // In mode primary, connections are counted as they are sent and the worker reports the closes,
    // so the count is current between reports; in the kernel modes only the worker knows.
    this.open = this.countsDispatch ? Math.max(0, this.open - message.closed) : message.open;
  }

  private onMessage(message: HandoffMessage, handle: unknown): void {
    const handler = Object.hasOwn(HANDLERS, message.type) ? (HANDLERS as unknown as Record<string, (w: WorkerProcess, m: HandoffMessage, h: unknown) => void>)[message.type] : undefined;
    if (handler !== undefined) {
      handler(this, message, handle);
      return;
    }
    // A valid primary-to-worker message sent by a worker: refused like a malformed one.
    (handle as NativeHandle | undefined)?.close?.();
    this.emit('protocol-error', new HandoffProtocolError(ProtocolErrorCode.UNEXPECTED, `worker ${this.id} sent '${message.type}', which only the primary sends`, message));
  }

  /**
   * Hands a connection to its link; the primary keeps its copy until the worker acknowledges it
   * (`links.acknowledged`). False when the link refuses it (at its cap, or closed): still the caller's.
   */
  sendConnection(connection: Connection): boolean {
    return this.link !== undefined && this.link.send(connection);
  }

  /** The worker is gone: its link gives back what it had not acknowledged (`links.returnedByLink`), if it has not already. */
  closeLink(): void {
    if (this.link !== undefined && !this.link.closed) this.link.close();
  }

  /** Sends `message` once the worker holds every connection sent to it so far (see `WorkerLink.postAfterSent`): a drain must not overtake them. */
  postAfterConnections(message: HandoffMessage): void {
    if (this.link !== undefined) this.link.postAfterSent(message);
    else this.post(message);
  }

  /**
   * Asks the worker (`ping`, `metrics-request`) and resolves with its answer, or `timeout` after
   * `timeout` ms, or `exited` when it exits first; never rejects. One number space for every request.
   */
  request<T extends keyof Answers>(type: T, timeout: number): Promise<RequestResult<Answers[T]>> {
    return new Promise((resolve) => {
      if (this.current === 'exited' || !this.child.connected) {
        resolve({ status: 'exited' });
        return;
      }
      const settle = resolve as (result: RequestResult<never>) => void;
      const seq = this.pending.open(settle, { timeout, onTimeout: (s) => s({ status: 'timeout' }) });
      this.post(createMessage(type as 'ping', { seq }));
    });
  }

  /** An answer (`pong`, `metrics`) to one of its requests; a late or unknown one is dropped. */
  answered(seq: number, answer: PongMessage | MetricsMessage): void {
    this.pending.settle(seq)?.({ status: 'answered', answer: answer as never });
  }

  /** Sends a message (with a handle, in line with the connections' handles); a closed channel is ignored (the exit handler follows). */
  post(message: HandoffMessage, handle?: unknown): void {
    if (!this.child.connected) return;
    if (this.link !== undefined) this.link.post(message, handle);
    else this.child.send(message, handle as never, undefined, ignore);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.current !== 'exited') this.child.kill(signal);
  }
}

function ignore(): void {}

/** The link's hooks, told to the dispatcher with the worker. */
function hooksFor(worker: WorkerProcess, links: LinkListener | undefined): LinkHooks {
  return {
    onAcknowledged: (count) => links?.acknowledged(worker, count),
    onReturned: (returned, reason) => links?.returnedByLink(worker, returned, reason === 'not-received' ? 'not-received' : 'worker-exit'),
    onClosed: (returned) => links?.returnedByLink(worker, returned, 'worker-exit'),
  };
}
