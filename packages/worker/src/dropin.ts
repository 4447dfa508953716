import net from 'node:net';
import type { ListenAddress } from '@handoff/protocol';
import { isHandoffWorker, kInternalServer } from './environment.js';
import { WorkerRuntime } from './runtime.js';

type ListenArgs = unknown[];
type NormalizedArgs = [options: { port?: unknown; host?: string; path?: string; backlog?: number; handle?: unknown; _handle?: unknown; fd?: unknown }, callback: (() => void) | null];
type Normalize = (args: ListenArgs) => NormalizedArgs;

/**
 * Where the drop-in runtime is kept: on `globalThis` under a registry symbol, so that an app whose
 * own copy of `@handoff/worker` is not the preload's (the `handoff` command brings its own) finds it.
 */
const kRuntime = Symbol.for('handoff.worker.drop-in-runtime');
const registry = globalThis as typeof globalThis & { [kRuntime]?: WorkerRuntime };

/** The runtime of a drop-in worker, once {@link installDropIn} ran inside a handoff worker. */
export function dropInRuntime(): WorkerRuntime | undefined {
  return registry[kRuntime];
}

/**
 * Drop-in mode: makes every `server.listen()` of an unmodified app (http, https, http2, tls, net,
 * and frameworks on them: `app.listen(3000)`) take its connections from the primary instead of
 * binding, as `node:cluster` does for its workers. The primary binds the address (once for the whole
 * pool) and the server then emits `'listening'`; `server.address()` reports where it is really bound,
 * and `server.close()` stops its connections coming (see `ServedServer`).
 * Outside a handoff worker it does nothing, so the same app runs alone unchanged.
 */
export function installDropIn(): void {
  if (registry[kRuntime] !== undefined || !isHandoffWorker()) return;
  const current = new WorkerRuntime(undefined, true);
  registry[kRuntime] = current;
  const original = net.Server.prototype.listen;
  const normalize = (net as unknown as { _normalizeArgs?: Normalize })._normalizeArgs;
  net.Server.prototype.listen = function listen(this: net.Server, ...args: ListenArgs): net.Server {
    if ((this as net.Server & { [kInternalServer]?: boolean })[kInternalServer] === true || normalize === undefined) return original.apply(this, args as never);
    const [options, callback] = normalize(args);
    // An open handle or file descriptor: nothing for the primary to bind.
    if (options.handle !== undefined || options._handle !== undefined || options.fd !== undefined) return original.apply(this, args as never);
    const address: ListenAddress = typeof options.path === 'string' ? { path: options.path } : { port: Number(options.port ?? 0), ...(options.host !== undefined ? { host: options.host } : {}) };
    const backlog = typeof options.backlog === 'number' ? options.backlog : typeof args[1] === 'number' ? args[1] : typeof args[2] === 'number' ? args[2] : undefined;
    // Node refuses a second listen() on a listening server; a served one is listening through its stand-in handle.
    if ((this as net.Server & { _handle?: unknown })._handle) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    if (typeof callback === 'function') this.once('listening', callback);
    const server = this;
    // Once bound, the server is listening (see ServedServer): `address()` reports where, 'listening' fires.
    current.bind(server, address, backlog).catch((error: Error) => server.emit('error', error));
    return this;
  };
}
