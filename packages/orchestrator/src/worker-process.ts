import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { HandoffProtocolError, ProtocolErrorCode, subscribe, type BindMessage, type ChannelEnd, type HandoffMessage, type LoadMessage, type ReturnMessage } from '@handoff/protocol';
import type { WorkerView } from '@handoff/policies';
import type { NativeHandle } from './bind.js';
import type { ProxiedPeer } from './proxy-intake.js';
import type { ResolvedOptions } from './options.js';

/** Where a worker is in its life. */
export type WorkerState = 'starting' | 'ready' | 'draining' | 'exited';

/** The environment variable that tells `@handoff/worker` it runs under a primary (its worker id). */
export const WORKER_ID_ENV = 'HANDOFF_WORKER_ID';

/** The environment variable holding a worker's slot, 0 to n-1, kept by its replacements (see `WorkerInfo.instance`). */
export const INSTANCE_ENV = 'HANDOFF_INSTANCE';

/** Milliseconds a worker may coalesce load changes before reporting them; empty: its default. */
export const LOAD_COALESCE_ENV = 'HANDOFF_LOAD_COALESCE_MS';

/** How many of a worker's last stderr lines are kept, to explain a failed start. */
const STDERR_LINES = 20;

/** How long after a worker's exit its channel may take to report closed, in ms. */
const CHANNEL_CLOSE_WAIT_MS = 1000;

/** A connection handed to a worker that has not confirmed it yet: the primary still holds its handle. */
export interface PendingConnection {
  readonly id: number;
  readonly listener: number;
  readonly handle: NativeHandle;
  /** Bytes already read from it (base64), sent along to be put back before the server reads. */
  readonly head?: string;
  /** How many workers it was sent to so far. */
  attempts: number;
  /** On a `proxyProtocol` listener: what its PROXY header said, read before the pick. */
  readonly proxied?: ProxiedPeer;
}

/** Events of a {@link WorkerProcess}, for the primary. */
export interface WorkerProcessEvents {
  hello: [];
  ready: [];
  load: [];
  draining: [phase: 'started' | 'idle', open: number];
  pong: [seq: number];
  /** Drop-in mode: the worker's app called listen(). */
  bind: [message: BindMessage];
  /** Drop-in mode: the worker now takes the connections of this listener. */
  bound: [listener: number];
  /** The worker's app closed the server of this listener: send it none of its connections. */
  unlisten: [listener: number];
  /** A connection that reached the worker after its server closed, given back to be placed again. */
  return: [message: ReturnMessage, handle: NativeHandle];
  'protocol-error': [error: HandoffProtocolError];
  'worker-error': [code: string, message: string];
  /** With `output: 'pipe'`: bytes the worker wrote to its stdout or stderr, as they came. */
  output: [stream: 'stdout' | 'stderr', chunk: Buffer];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

/**
 * One forked worker, as the primary sees it: its process, its protocol channel, its state and the
 * load figures policies read. It is also the `WorkerView` handed to `policy.pick`, so a pick needs no
 * lookup.
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> implements WorkerView {
  readonly child: ChildProcess;
  state: WorkerState = 'starting';
  /** Set when the supervisor killed it for not becoming ready within `readyTimeout`. */
  readyTimedOut = false;
  /** Set when the primary refused it (another protocol version): why it can never become ready. */
  refusal: HandoffProtocolError | undefined;
  /** Set when the primary asked it to go (drain, shutdown, reload, scale down): its exit is no crash. */
  expectedExit = false;
  readonly spawnedAt = Date.now();
  readySince = 0;
  weight = 1;
  connections = 0;
  requests = 0;
  eventLoopDelay = 0;
  rss = 0;
  heapUsed = 0;
  /** Drop-in mode: the listeners this worker's app bound (it gets only their connections). */
  readonly dropInListeners = new Set<number>();
  /** Balanced shared mode: the worker closed its acceptors at its limit, as of its last report. */
  paused = false;
  /**
   * Handles sent to this worker and not yet acknowledged by its Node runtime, oldest first: a
   * connection, or `null` for another handle (a shared listening socket). Node passes one handle at
   * a time on a channel and the receiver answers each with `NODE_HANDLE_ACK` (or `NACK`), so the
   * next acknowledgement is always for the oldest entry.
   */
  private readonly unacknowledged: Array<PendingConnection | null> = [];
  /** Connections sent and not yet received by the worker (the non-null `unacknowledged`): what policies see. */
  inFlight = 0;
  /** Told when the worker's runtime received (or failed to receive) a connection's handle. */
  onHandleSettled: ((connection: PendingConnection, received: boolean) => void) | undefined;
  /** True in mode primary, where the primary counts the connections it sends. */
  countsDispatch = false;
  private readonly stderrTail: string[] = [];
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;

  constructor(
    readonly id: number,
    readonly slot: number,
    options: ResolvedOptions,
  ) {
    super();
    this.child = fork(options.worker, [...options.args], {
      env: {
        ...process.env,
        ...options.identity?.env,
        ...options.env,
        [WORKER_ID_ENV]: String(id),
        [INSTANCE_ENV]: String(slot),
        // A policy that reads the workers' load wants it fresh: report each turn, not each 10 ms.
        [LOAD_COALESCE_ENV]: options.policy.mode === 'primary' && options.policy.readsLoad === true ? '0' : '',
      },
      // Privilege drop (`user`, `group`): libuv sets the group, clears the supplementary groups
      // (setgroups(0, NULL) in uv__process_child_init), then sets the user, before Node starts.
      ...(options.identity === undefined ? {} : { uid: options.identity.uid, gid: options.identity.gid }),
      // Drop-in mode: the preload makes the app's own listen() ask the primary.
      execArgv: options.dropIn === undefined ? [...options.execArgv] : [...options.execArgv, '--import', options.dropIn.register],
      // stderr passes through the primary so the last lines can explain a failed start; with
      // `output: 'pipe'` stdout does too, and both go to the 'output' event instead of the primary's own.
      stdio: ['inherit', options.output === 'pipe' ? 'pipe' : 'inherit', 'pipe', 'ipc'],
    });
    const piped = options.output === 'pipe';
    this.child.stdout?.on('data', (chunk: Buffer) => this.emit('output', 'stdout', chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => {
      if (piped) this.emit('output', 'stderr', chunk);
      else process.stderr.write(chunk);
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
    // The worker's runtime acknowledges every handle it receives: for a connection, that is the
    // moment the worker holds it and the primary can let go of its copy. Using Node's own
    // acknowledgement adds no message per connection.
    this.child.on('internalMessage', (message: { cmd?: unknown } | null) => {
      const cmd = message?.cmd;
      if (cmd !== 'NODE_HANDLE_ACK' && cmd !== 'NODE_HANDLE_NACK') return;
      const connection = this.unacknowledged.shift();
      if (connection === undefined || connection === null) return;
      this.inFlight--;
      this.onHandleSettled?.(connection, cmd === 'NODE_HANDLE_ACK');
    });
    // 'exit' (from SIGCHLD) can come before the last messages on the channel are read. An
    // acknowledgement still in the pipe must be seen before the exit, or a connection the worker took
    // would be re-dispatched half-read: so the exit is reported once the channel has closed too
    // (Node reads the pipe to EOF first), with a bound in case it never says so.
    let exited = false;
    let disconnected = !this.child.connected;
    const report = (): void => {
      if (this.state === 'exited') return;
      unsubscribe();
      this.state = 'exited';
      this.emit('exit', this.exitCode, this.signalCode);
    };
    this.child.once('disconnect', () => {
      disconnected = true;
      if (exited) report();
    });
    this.child.once('exit', (code, signal) => {
      exited = true;
      this.exitCode = code;
      this.signalCode = signal;
      if (disconnected) report();
      else setTimeout(report, CHANNEL_CLOSE_WAIT_MS).unref();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The last lines the worker wrote to stderr. */
  stderr(): string {
    return this.stderrTail.join('\n');
  }

  private onMessage(message: HandoffMessage, handle: unknown): void {
    switch (message.type) {
      case 'hello':
        this.emit('hello');
        return;
      case 'ready':
        if (this.state === 'starting') {
          this.state = 'ready';
          this.readySince = Date.now();
          this.emit('ready');
        }
        return;
      case 'load':
        this.applyLoad(message);
        this.emit('load');
        return;
      case 'draining':
        this.emit('draining', message.phase, message.open);
        return;
      case 'bind':
        this.emit('bind', message);
        return;
      case 'pong':
        this.emit('pong', message.seq);
        return;
      case 'unlisten':
        this.emit('unlisten', message.listener);
        return;
      case 'return':
        this.emit('return', message, handle as NativeHandle);
        return;
      case 'error':
        this.emit('worker-error', message.code, message.message);
        return;
      default:
        // A valid primary-to-worker message sent by a worker: refused like a malformed one.
        (handle as NativeHandle | undefined)?.close?.();
        this.emit('protocol-error', new HandoffProtocolError(ProtocolErrorCode.UNEXPECTED, `worker ${this.id} sent '${message.type}', which only the primary sends`, message));
    }
  }

  private applyLoad(message: LoadMessage): void {
    this.requests = message.requests;
    this.eventLoopDelay = message.eventLoopDelay;
    if (message.rss > 0) this.rss = message.rss;
    if (message.heapUsed > 0) this.heapUsed = message.heapUsed;
    this.paused = message.paused === true;
    // In mode primary, connections are counted as they are sent and the worker reports the closes,
    // so the count is current between reports; in the kernel modes only the worker knows.
    this.connections = this.countsDispatch ? Math.max(0, this.connections - message.closed) : message.open;
  }

  /**
   * Sends a connection's handle with its `connection` message; the primary keeps its copy until the
   * worker's runtime acknowledges it (`onHandleSettled`).
   */
  sendConnection(message: object, connection: PendingConnection, options: object): void {
    this.unacknowledged.push(connection);
    this.inFlight++;
    this.child.send(message as never, connection.handle as never, options);
  }

  /** The worker is gone: the connections it never received, oldest first; it holds none after. */
  takeUnreceived(): PendingConnection[] {
    const unreceived: PendingConnection[] = [];
    for (const c of this.unacknowledged) if (c !== null) unreceived.push(c);
    this.unacknowledged.length = 0;
    this.inFlight = 0;
    return unreceived;
  }

  /** Sends a message without a handle; a closed channel is ignored (the exit handler follows). */
  post(message: HandoffMessage, handle?: unknown): void {
    if (!this.child.connected) return;
    if (handle !== undefined && handle !== null) this.unacknowledged.push(null);
    this.child.send(message, handle as never, undefined, ignore);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.state !== 'exited') this.child.kill(signal);
  }
}

function ignore(): void {}
