import net, { isIPv6 } from 'node:net';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { isPathAddress, type ListenAddress } from '@handoff/protocol';
import { isHandoffWorker, kInternalServer } from './environment.js';
import { WorkerRuntime } from './runtime.js';

/** Node's `setupListenHandle`, which `listen()` reaches through `listenInCluster` as `server._listen2`. */
type Listen2 = (this: Internals, address: string | null, port: number, addressType: number, backlog?: number, fd?: number, flags?: number) => void;
type Internals = net.Server & { _handle: object | null; _listen2: Listen2; [kInternalServer]?: boolean; [kAsked]?: Asked };
/** What `listen(options)` says that Node hands no further than `listenInCluster`. */
interface Asked {
  readonly exclusive: boolean;
  readonly ipv6Only: boolean;
}

/**
 * Where the drop-in runtime is kept: on `globalThis` under a registry symbol, so that an app whose
 * own copy of `@handoff/worker` is not the preload's (the `handoff` command brings its own) finds it.
 */
const kRuntime = Symbol.for('handoff.worker.drop-in-runtime');
const registry = globalThis as typeof globalThis & { [kRuntime]?: WorkerRuntime };
const kAsked = Symbol('handoff.listen-options');

/** The runtime of a drop-in worker, once {@link installDropIn} ran inside a handoff worker. */
export function dropInRuntime(): WorkerRuntime | undefined {
  return registry[kRuntime];
}

/**
 * Drop-in mode: makes every `server.listen()` of an unmodified app (http, https, http2, tls, net,
 * and frameworks on them: `app.listen(3000)`) take its connections from the primary instead of
 * binding, as `node:cluster` does for its workers. Outside a handoff worker it does nothing, so the
 * same app runs alone unchanged.
 *
 * Node's own `listen()` runs, every form of it: its argument checks and synchronous throws, the
 * port-0 defaults, the host lookup, `signal`, the callback. Only where it would bind, in
 * `server._listen2` (Node's `setupListenHandle`, which `listenInCluster` calls under that name "to
 * avoid breaking code that wraps this method"), the worker asks the primary instead, and hands
 * Node a stand-in of the bound handle once answered, as cluster's workers do: Node then sets the
 * server up as listening and emits `'listening'` itself. A handle or file descriptor the app
 * passes is the app's own: Node listens on it as it would alone.
 */
export function installDropIn(): void {
  if (registry[kRuntime] !== undefined || !isHandoffWorker()) return;
  const runtime = new WorkerRuntime(undefined, true);
  registry[kRuntime] = runtime;
  const proto = net.Server.prototype as unknown as { listen: (this: Internals, ...args: unknown[]) => net.Server; _listen2: Listen2 };
  const listen = proto.listen;
  const listen2 = proto._listen2;
  if (typeof listen2 !== 'function') throw new Error(`handoff drop-in: this Node.js (${process.version}) has no net.Server.prototype._listen2`);
  proto.listen = function (this: Internals, ...args: unknown[]): net.Server {
    if (this[kInternalServer] !== true) {
      const options = typeof args[0] === 'object' && args[0] !== null ? (args[0] as { exclusive?: unknown; ipv6Only?: unknown }) : undefined;
      this[kAsked] = { exclusive: options?.exclusive === true, ipv6Only: options?.ipv6Only === true };
    }
    return listen.apply(this, args);
  };
  proto._listen2 = function (address, port, addressType, backlog, fd, flags) {
    // The app's own handle or descriptor, or an acceptor of the worker's own: listened on here.
    if (this[kInternalServer] === true || this._handle || (typeof fd === 'number' && fd >= 0)) return listen2.call(this, address, port, addressType, backlog, fd, flags);
    const server = this;
    const asked = this[kAsked];
    const path = port < 0 && typeof address === 'string' ? (address.startsWith('\0') ? address : resolve(address)) : undefined;
    const where: ListenAddress = path !== undefined ? { path } : address === null ? { port } : { port, host: address };
    const { handle, answer } = runtime.bind(server, {
      address: where,
      ...(typeof backlog === 'number' && backlog > 0 ? { backlog } : {}),
      // node:cluster's key (lib/internal/cluster/child.js): listen(0) twice is two addresses.
      key: [path ?? address, port, addressType, fd].join(':'),
      exclusive: asked?.exclusive === true,
      ipv6Only: asked?.ipv6Only === true,
    });
    // Listening from now on, as a Node server whose bind is synchronous: a second listen() throws
    // ERR_SERVER_ALREADY_LISTEN, close() and unref() reach the worker.
    server._handle = handle;
    answer.then(
      (bound) => {
        // Closed (or listening anew) while the primary bound: nothing to set up.
        if (bound === undefined || server._handle !== handle) return;
        // Alone, Node binds an unspecified address as '::' (or '0.0.0.0'), and names it so in
        // `_connectionKey`: the primary's bind says which.
        let named = address;
        let type = addressType;
        if (named === null && port >= 0 && !isPathAddress(bound)) {
          named = bound.host ?? '::';
          type = isIPv6(named) ? 6 : 4;
        }
        // Node sets its own onconnection on the handle: the stand-in keeps its accept, or what the
        // app set in its place since listen() returned.
        const { onconnection } = handle as { onconnection?: unknown };
        listen2.call(server, named, port, type, backlog, fd, flags);
        (handle as { onconnection?: unknown }).onconnection = onconnection;
      },
      (error: Error & { code?: string }) => {
        if (server._handle !== handle) return;
        server._handle = null;
        // Thrown from a tick, as Node emits it: an app without an 'error' listener fails as it would alone.
        process.nextTick(() => server.emit('error', listenError(error, address, port)));
      },
    );
  };
}

/**
 * The error Node's own `listen()` emits for an errno (`listen EADDRINUSE: address already in use
 * :::3000`, with `code`, `errno`, `syscall`, `address`, `port`), from the primary's answer; handoff's
 * own refusals (`HANDOFF_ERR_*`) as they are.
 */
function listenError(error: Error & { code?: string }, address: string | null, port: number): Error {
  const errno = error.code === undefined ? undefined : (constants.errno as Record<string, number | undefined>)[error.code];
  if (errno === undefined) return error;
  const text = getSystemErrorMap().get(-errno)?.[1] ?? error.message;
  // An unspecified address is bound as '::' (or '0.0.0.0' without IPv6), and named so.
  const host = address ?? '::';
  const ex = new Error(`listen ${error.code}: ${text} ${port >= 0 ? `${host}:${port}` : host}`) as Error & Record<string, unknown>;
  ex.code = error.code;
  ex.errno = -errno;
  ex.syscall = 'listen';
  ex.address = host;
  if (port > 0) ex.port = port;
  return ex;
}
