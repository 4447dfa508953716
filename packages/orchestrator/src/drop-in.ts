import { createMessage, isPathAddress, MAX_STRING, type BindMessage, type ListenAddress, type ListenProxy } from '@handoff/protocol';
import type { PolicyMode } from '@handoff/policies';
import { bindListener } from './bind.js';
import type { BoundListener } from './types.js';
import { debug } from './diagnostics.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { DropInAddressSocket, ListenOption, ResolvedProxyProtocol } from './options.js';
import type { WorkerProcess } from './worker-process.js';

/** Drop-in mode: the most different addresses the primary binds for the apps (a hostile one asks without end). */
export const MAX_DROP_IN_LISTENERS = 64;

/** What the binder needs from the primary. */
export interface DropInHost {
  /** Every listener the primary owns, in index order; the binder appends to it. */
  readonly listeners: BoundListener[];
  /** Mode `primary`: start dispatching a new listener's connections; and tell the user. */
  attach(listener: BoundListener): void;
}

function keyOf(address: ListenAddress): string {
  return isPathAddress(address) ? `unix:${address.path}` : `tcp:${address.host ?? ''}:${address.port}`;
}

/** An app's `listen()` as handed sockets are matched to it: its address and its count of servers on it. */
function handedKey(address: ListenAddress, index: number | undefined): string {
  return `${keyOf(address)}#${index ?? 0}`;
}

/** What an app's `listen()` asked for, kept per listener: an upgrade hands the socket on by it. */
export interface AppListen {
  readonly address: ListenAddress;
  /** How many of the worker's open servers had asked for `address` before (`node:cluster`'s index). */
  readonly index: number;
}

/**
 * Drop-in mode, the primary's side: each worker's app calls `listen()` itself, and the worker asks
 * the primary to `bind` that address. The first request for an address binds it (as `listen` would:
 * same modes, same errors); every later one, from any worker, shares that listener. The answer is a
 * `listen` message carrying the request's number (with the shared socket in mode `shared`), or a
 * `bind-error` with the errno-style code the app would have got from its own `listen()`.
 *
 * An address is keyed as `node:cluster`'s primary keys it (lib/internal/cluster/primary.js,
 * `queryServer`): with the worker's count of its open servers on it (`index`), so the n-th
 * `listen(0)` of every worker shares one port, distinct from the (n+1)-th; and by the worker too when
 * it asked `exclusive`. A listener is closed, its port free again, when the last worker whose app
 * held it closed that server (`unlisten`); a worker's exit lets go of what it held without closing
 * it (its replacement asks again), except its exclusive listeners.
 */
export class DropInBinder {
  private readonly byAddress = new Map<string, Promise<BoundListener>>();
  /** How many of each worker's servers hold the listener of each key (asked, answered or not). */
  private readonly holders = new Map<string, Map<WorkerProcess, number>>();
  /** The key of each listener index bound here. */
  private readonly keys = new Map<number, string>();
  /** What the app asked for, of each listener index bound here (an upgrade maps it to the socket). */
  private readonly apps = new Map<number, AppListen>();
  /** `dropIn.sockets` not adopted yet, by {@link handedKey}: each serves the first `listen()` that matches it. */
  private readonly handed = new Map<string, DropInAddressSocket>();
  /** Listener indexes adopted from `dropIn.sockets`: this primary's to close when no app holds them. */
  private readonly adopted = new Set<number>();
  /** Workers whose `unlisten` and exit the binder follows. */
  private readonly followed = new WeakSet<WorkerProcess>();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly mode: PolicyMode,
    /** App port → port to really bind (`{ 3000: 0 }` in tests), or the passed socket that serves it. */
    private readonly ports: ReadonlyMap<number, number | { readonly fd: number; readonly fdName?: string }>,
    private readonly host: DropInHost,
    /** Where to bind an address whose `listen()` named no host; `undefined`: as Node would. */
    private readonly defaultHost?: string,
    /**
     * The workers run with dropped privileges (`user`): an app may have the primary bind only
     * ports of 1024 and up or those mapped in `ports`, never a Unix socket path (a root primary
     * would create it anywhere), so that it gains no privilege through its primary.
     */
    private readonly restricted = false,
    /** `dropIn.proxyProtocol`: every listener bound for an app reads a PROXY header first. */
    private readonly proxyProtocol?: ResolvedProxyProtocol,
    /** `dropIn.sockets`: listening sockets that serve app addresses (an upgrade's). */
    sockets: readonly DropInAddressSocket[] = [],
  ) {
    for (const s of sockets) this.handed.set(handedKey(s.app, s.index), s);
  }

  /** Why an app of a worker with dropped privileges may not have `address` bound; undefined: it may. */
  private refusal(address: ListenAddress): string | undefined {
    if (!this.restricted) return undefined;
    if (isPathAddress(address)) return `the workers run with dropped privileges (option user): the primary binds no Unix socket path an app asks for (${address.path}); listen on a TCP port`;
    if (address.port !== 0 && address.port < 1024 && !this.ports.has(address.port)) {
      return `the workers run with dropped privileges (option user): the primary binds port ${address.port} (below 1024) for an app only if dropIn.ports maps it`;
    }
    return undefined;
  }

  /** Answers one worker's `bind`. Never throws: a failure becomes a `bind-error` to that worker. */
  bind(worker: WorkerProcess, message: BindMessage): void {
    const refused = this.refusal(message.address);
    if (refused === undefined && this.byAddress.size >= MAX_DROP_IN_LISTENERS && !this.byAddress.has(this.keyFor(message, worker))) {
      // Untrusted app code asking for address after address: the primary holds no more sockets for it.
      debug('drop-in: refused to bind %o for worker %d: %d addresses bound already', message.address, worker.id, MAX_DROP_IN_LISTENERS);
      worker.post(createMessage('bind-error', { request: message.request, code: PrimaryErrorCode.TOO_MANY_LISTENERS, message: `the primary binds at most ${MAX_DROP_IN_LISTENERS} addresses for the apps; this one is refused` }));
      return;
    }
    if (refused !== undefined) {
      debug('drop-in: refused to bind %o for worker %d: %s', message.address, worker.id, refused);
      worker.post(createMessage('bind-error', { request: message.request, code: 'EACCES', message: refused }));
      return;
    }
    const key = this.keyFor(message, worker);
    // A socket handed over for this address serves it, once: after it closes, the address binds anew.
    const handed = this.byAddress.has(key) ? undefined : this.takeHanded(message);
    const option: ListenOption = handed === undefined ? this.optionFor(message.address, message.backlog, message.ipv6Only) : { fd: handed.fd, ...(this.proxyProtocol === undefined ? {} : { proxyProtocol: this.proxyProtocol }) };
    this.follow(worker);
    this.hold(key, worker, 1);
    let listener = this.byAddress.get(key);
    if (listener === undefined) {
      // One bind at a time, so listener indexes stay dense (a failed bind takes none).
      listener = this.queue.then(() =>
        bindListener(this.host.listeners.length, option, this.mode).then((made) => {
          const bound = handed === undefined ? made : this.adopt(made, message.address, handed);
          this.host.listeners.push(bound);
          this.keys.set(bound.index, key);
          this.apps.set(bound.index, { address: message.address, index: message.index ?? 0 });
          this.host.attach(bound);
          debug('drop-in: bound listener %d at %o for worker %d', bound.index, bound.address, worker.id);
          return bound;
        }),
      );
      this.queue = listener.then(
        () => undefined,
        () => undefined,
      );
      this.byAddress.set(key, listener);
      // A failed bind is not remembered: the next request tries again.
      listener.catch(() => this.byAddress.delete(key));
    }
    listener.then(
      (bound) => {
        worker.dropInListeners.add(bound.index);
        const answer = createMessage('listen', {
          listener: bound.index,
          listeners: this.host.listeners.length,
          mode: bound.mode,
          address: bound.address,
          request: message.request,
        });
        // Kernel modes: the worker accepts, so the worker reads the PROXY header.
        const proxy = bound.mode === 'primary' ? undefined : this.proxyProtocol;
        if (proxy !== undefined) (answer as { proxy?: ListenProxy }).proxy = proxy.trusted === undefined ? { timeout: proxy.timeout, maxHeaderBytes: proxy.maxHeaderBytes } : { timeout: proxy.timeout, maxHeaderBytes: proxy.maxHeaderBytes, trusted: proxy.trusted };
        worker.post(answer, bound.mode === 'shared' ? bound.sharedHandle : undefined);
        worker.emit('bound', bound.index);
      },
      (error: unknown) => {
        this.hold(key, worker, -1);
        const cause = (error as { cause?: { code?: unknown } }).cause;
        const code = typeof cause?.code === 'string' ? cause.code : error instanceof HandoffPrimaryError ? error.code : 'EINVAL';
        worker.post(createMessage('bind-error', { request: message.request, code, message: (error as Error).message.slice(0, MAX_STRING) }));
      },
    );
  }

  /** What the app's `listen()` asked for, that listener `index` serves; undefined: not bound here. */
  appListen(index: number): AppListen | undefined {
    return this.apps.get(index);
  }

  /** The `dropIn.sockets` entry for `message`'s address, if one is left; it serves that one listener. */
  private takeHanded(message: BindMessage): DropInAddressSocket | undefined {
    const key = handedKey(message.address, message.index);
    const handed = this.handed.get(key);
    this.handed.delete(key);
    return handed;
  }

  /**
   * A socket of `dropIn.sockets`, adopted: it says the path the app asked for (not `fd:N`), removes
   * that path when it closes if it was handed with it (`unlink`), and closes when no app holds it.
   */
  private adopt(bound: BoundListener, address: ListenAddress, handed: DropInAddressSocket): BoundListener {
    this.adopted.add(bound.index);
    if (!isPathAddress(address)) return bound;
    if (handed.unlink === true) bound.unlinkOnClose(address.path);
    return { ...bound, address: { path: address.path } };
  }

  /** Counts `worker`'s servers on `key` up or down; `undefined`: the worker holds none of it any more. */
  private hold(key: string, worker: WorkerProcess, by: 1 | -1): number | undefined {
    let workers = this.holders.get(key);
    if (workers === undefined) {
      workers = new Map();
      this.holders.set(key, workers);
    }
    const count = (workers.get(worker) ?? 0) + by;
    if (count > 0) workers.set(worker, count);
    else workers.delete(worker);
    return count > 0 ? count : undefined;
  }

  /** Follows `worker`'s `unlisten`s and its exit (once per worker). */
  private follow(worker: WorkerProcess): void {
    if (this.followed.has(worker)) return;
    this.followed.add(worker);
    worker.on('unlisten', (listener) => this.unlisten(worker, listener));
    worker.once('exit', () => {
      for (const [key, workers] of this.holders) {
        if (!workers.delete(worker)) continue;
        // A worker's exclusive listener serves no one else: it closes with the worker.
        if (key.endsWith(`@${worker.id}`)) this.release(key);
      }
    });
  }

  /**
   * `worker`'s app closed a server of `listener` (the supervisor has taken the listener from the
   * worker's set already). It may still hold it through another server (closed and listening again
   * on the same address before the primary answered): then the worker keeps it. Else, when no
   * worker holds it, the listener closes.
   */
  private unlisten(worker: WorkerProcess, listener: number): void {
    // Answered once the listener is let go of: the app's server emits 'close' then (see runtime.ts).
    const answer = (): void => worker.post(createMessage('unlistened', { listener }));
    const key = this.keys.get(listener);
    if (key === undefined) return answer();
    if (this.hold(key, worker, -1) !== undefined) {
      worker.dropInListeners.add(listener);
      worker.emit('bound', listener);
      return answer();
    }
    if (this.holders.get(key)?.size === 0) void this.release(key).then(answer);
    else answer();
  }

  /** No worker's app holds `key`'s listener any more: it closes, and the next request binds anew. */
  private release(key: string): Promise<void> {
    const listener = this.byAddress.get(key);
    if (listener === undefined) return Promise.resolve();
    this.byAddress.delete(key);
    this.holders.delete(key);
    return listener.then(
      (bound) => {
        // A socket systemd passed outlives the primary's use of it: never closed here.
        if ('fd' in bound.option && !this.adopted.has(bound.index)) return;
        this.keys.delete(bound.index);
        this.apps.delete(bound.index);
        bound.close();
        debug('drop-in: closed listener %d at %o: no worker holds it', bound.index, bound.address);
      },
      () => undefined,
    );
  }

  private keyOf(option: ListenOption): string {
    return 'fd' in option ? `fd:${option.fd}` : keyOf(option as ListenAddress);
  }

  /** `node:cluster`'s key: the address, the worker's count of its servers on it, and the worker when exclusive. */
  private keyFor(message: BindMessage, worker: WorkerProcess): string {
    const option = this.optionFor(message.address, message.backlog, message.ipv6Only);
    // A passed socket is one listener, whatever the count.
    if ('fd' in option) return this.keyOf(option);
    // The app's address, not the mapped one: two app ports mapped to port 0 are two listeners.
    return `${keyOf(message.address)}#${message.index ?? 0}${message.ipv6Only === true ? '/v6' : ''}${message.exclusive === true ? `@${worker.id}` : ''}`;
  }

  private optionFor(address: ListenAddress, backlog: number | undefined, ipv6Only?: boolean): ListenOption {
    const proxy = this.proxyProtocol === undefined ? {} : { proxyProtocol: this.proxyProtocol };
    if (isPathAddress(address)) return backlog === undefined ? { path: address.path, ...proxy } : { path: address.path, backlog, ...proxy };
    const mapped = this.ports.get(address.port) ?? address.port;
    // A passed socket (systemd's) serves this port: adopted, whatever host the app named.
    if (typeof mapped === 'object') return { ...mapped, ...proxy };
    const option: { port: number; host?: string; backlog?: number; ipv6Only?: boolean } = { port: mapped, ...proxy };
    const host = address.host ?? this.defaultHost;
    if (host !== undefined) option.host = host;
    if (backlog !== undefined) option.backlog = backlog;
    if (ipv6Only === true) option.ipv6Only = true;
    return option;
  }
}
