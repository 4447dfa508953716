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
 * pool) and the server then emits `'listening'`; `server.address()` reports where it is really bound.
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
    if (typeof callback === 'function') this.once('listening', callback);
    const server = this;
    current.bind(server, address, backlog).then(
      (bound) => {
        pretendListening(server, bound);
        server.emit('listening');
      },
      (error: Error) => server.emit('error', error),
    );
    return this;
  };
}

/** Makes `address()`, `listening` and `close()` of a server whose listener the primary holds behave as Node's. */
function pretendListening(server: net.Server, bound: ListenAddress): void {
  const info: net.AddressInfo | string =
    'path' in bound ? bound.path : { address: bound.host ?? '::', family: net.isIPv6(bound.host ?? '::') ? 'IPv6' : 'IPv4', port: bound.port };
  let open = true;
  const close = Object.getPrototypeOf(server).close as (this: net.Server, cb?: (error?: Error) => void) => net.Server;
  Object.defineProperties(server, {
    address: { configurable: true, value: () => info },
    listening: { configurable: true, get: () => open },
    close: {
      configurable: true,
      value(this: net.Server, cb?: (error?: Error) => void): net.Server {
        open = false;
        // Node's close() reports "not running" for a server without its own handle: drop-in
        // servers have none, so the callback gets what it would get from a listening server.
        if (typeof cb === 'function') this.once('close', () => cb());
        return close.call(this);
      },
    },
  });
}
