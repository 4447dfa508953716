// Longer than most modules: every option of the primary is validated here, in one place, so each
// mistake names its option the same way (one table, one reason to change: the options).
import { fileURLToPath } from 'node:url';
import { roundRobin, type Policy } from '@handoff/policies';
import { createTrustCheck, HandoffProxyProtocolError } from '@handoff/proxy-protocol';
import { resolveRegister } from './preload.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import { resolveIdentity, type Identity } from './identity.js';
import { activatedSockets } from './activation.js';
import { countCpus } from './cpus.js';

/** One address to listen on: a TCP port (IPv4 or IPv6) or a Unix socket path. */
export type ListenOption =
  | {
      /** TCP port; 0 picks a free one (read it back from `primary.addresses()`). */
      readonly port: number;
      /** Host to bind. @default '::' then '0.0.0.0', as Node's `listen` does */
      readonly host?: string;
      /** Listen backlog. @default 511 */
      readonly backlog?: number;
      /** With an IPv6 `host` (`'::'`), take no IPv4 connection, as Node's `listen({ ipv6Only })`. @default false */
      readonly ipv6Only?: boolean;
      /**
       * What the primary speaks when it must refuse a connection itself (no worker in time):
       * `'http'` answers `503 Service Unavailable`, `'tcp'` just closes.
       * @default 'http'
       */
      readonly protocol?: 'http' | 'tcp';
      /**
       * Every connection starts with a PROXY protocol header (v1 or v2), as HAProxy's `send-proxy`,
       * nginx's `proxy_protocol on` and cloud load balancers send it: the app then sees the client
       * the header names (`socket.remoteAddress`), and `ipHash()` picks by it. `true` takes the
       * defaults; a connection without a valid header in time, or from outside `trusted`, is closed
       * and counted (`connection:proxy-refused`), and never reaches the app.
       * @default false
       */
      readonly proxyProtocol?: boolean | ProxyProtocolOptions;
    }
  | { readonly path: string; readonly backlog?: number; readonly protocol?: 'http' | 'tcp'; readonly proxyProtocol?: boolean | ProxyProtocolOptions }
  | FdListenOption;

/**
 * A socket that is already bound and listening, passed to the primary by systemd (socket
 * activation: `listen: 'systemd'`, or `{ fdName }` for one of its `FileDescriptorName=`s) or by
 * any manager that hands descriptors down. It outlives the primary, so connections that arrive
 * while the primary restarts wait in it. Modes `primary` and `shared`.
 */
export interface FdListenOption {
  /** The descriptor (3 and up; systemd passes them from 3). */
  readonly fd: number;
  /** Its systemd name (`LISTEN_FDNAMES`), when it has one: `{ fdName: 'web' }` picks it. */
  readonly fdName?: string;
  /** Set by whoever created the socket (systemd's `Backlog=`). */
  readonly backlog?: undefined;
  readonly protocol?: 'http' | 'tcp';
  readonly proxyProtocol?: boolean | ProxyProtocolOptions;
}

/** How a listener with `proxyProtocol` reads the header. */
export interface ProxyProtocolOptions {
  /**
   * CIDR blocks the proxies connect from (`['10.0.0.0/8', '::1']`); a connection from anywhere
   * else is closed before a byte is read. Leave it out only where nothing but the proxy can connect.
   */
  readonly trusted?: readonly string[];
  /** A connection must have sent its whole header by then, in ms (1..2147483647). @default 3000 */
  readonly timeout?: number;
  /** Largest header accepted, in bytes (107..65536). @default 4096 */
  readonly maxHeaderBytes?: number;
  /**
   * Mode `primary`: connections of this listener that may be sending their header at once; one
   * more is closed at once (`HANDOFF_ERR_PROXY_BUSY`), so that slow senders cannot pin the
   * primary's memory (each holds a socket and at most `maxHeaderBytes` for at most `timeout`).
   * @default 1024
   */
  readonly maxPending?: number;
}

/** `proxyProtocol` after validation: every field filled (`trusted` undefined: any peer). */
export interface ResolvedProxyProtocol {
  readonly trusted: readonly string[] | undefined;
  readonly timeout: number;
  readonly maxHeaderBytes: number;
  readonly maxPending: number;
}

/** The resolved `proxyProtocol` of a listener, or undefined when it reads none. */
export function proxyProtocolOf(option: ListenOption): ResolvedProxyProtocol | undefined {
  const value = option.proxyProtocol;
  return typeof value === 'object' ? (value as ResolvedProxyProtocol) : undefined;
}

/** Restart and crash-loop settings. */
export interface RestartOptions {
  /** Delay before replacing a worker that exited unexpectedly, doubled per recent crash. @default 100 */
  readonly initialDelay?: number;
  /** Cap of that delay. @default 10000 */
  readonly maxDelay?: number;
  /** This many unexpected exits within `crashLoopWindow` ms is a crash loop. @default 5 */
  readonly crashLoopCount?: number;
  /** @default 10000 */
  readonly crashLoopWindow?: number;
}

/** Options of `createPrimary`. */
/** Drop-in mode: see the `dropIn` option. */
export interface DropInOptions {
  /**
   * Where the app's ports really bind: `{ 3000: 8080 }` binds 8080 when the app listens on 3000;
   * `{ 3000: 0 }` picks a free port once, shared by every worker (tests). Unlisted ports bind as asked.
   */
  readonly ports?: Readonly<Record<number, number | DropInSocket>>;
  /**
   * Every address the apps' `listen()` calls have bound (and every passed socket of `ports`)
   * expects a PROXY protocol header first: see `listen[].proxyProtocol`.
   * @default false
   */
  readonly proxyProtocol?: boolean | ProxyProtocolOptions;
  /**
   * The preload passed to workers with `--import`.
   * @default '@handoff/worker/register', resolved from the worker module
   */
  readonly register?: string;
  /** Host to bind where the app's `listen()` names none (Node's default is every interface). */
  readonly host?: string;
}

/**
 * Drop-in mode: a socket that is already listening, to serve an app port on instead of binding it
 * (`dropIn.ports: { 3000: { fdName: 'web' } }`): `'systemd'` is the one socket systemd passed,
 * `{ fdName }` one of its `FileDescriptorName=`s, `{ fd }` any inherited listening descriptor.
 */
export type DropInSocket = 'systemd' | { readonly fd: number } | { readonly fdName: string };

export interface PrimaryOptions {
  /** The worker program: a path or `file:` URL of a module that calls `serve()` from `@handoff/worker`. */
  readonly worker: string | URL;
  /**
   * How many workers; `'auto'` is one per CPU the process may use: `os.availableParallelism()`
   * (affinity), lowered by its cgroup's CPU quota (v1 or v2, rounded up; `countCpus()`). @default 'auto'
   */
  readonly workers?: number | 'auto';
  /** Where to listen: a port, one address, or several. Leave it out with `dropIn`: the app's own `listen()` calls say where. */
  readonly listen?: number | ListenInput | readonly ListenInput[];
  /**
   * Drop-in mode for an unmodified app: each worker runs with `--import @handoff/worker/register`,
   * so the app's own `server.listen(port)` / `app.listen(port)` asks the primary, which binds the
   * address once (in the policy's mode) and shares it with every worker; `server.address()` in the
   * worker reports the real address. Policies of mode `primary` and `shared`.
   * @default false
   */
  readonly dropIn?: boolean | DropInOptions;
  /** How connections spread over workers. @default roundRobin() */
  readonly policy?: Policy;
  /** Arguments passed to each worker (`process.argv.slice(2)` there). */
  readonly args?: readonly string[];
  /** Node flags for each worker. @default process.execArgv */
  readonly execArgv?: readonly string[];
  /** Extra environment variables for each worker, on top of the primary's. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long a worker may take to become ready, in ms. @default 30000 */
  readonly readyTimeout?: number;
  /** How long a draining worker may take to finish its connections before it is killed, in ms (SIGKILL follows 1 s later). @default 8000 */
  readonly drainTimeout?: number;
  /** Connections waiting for a ready worker, at most; past it the primary answers 503. @default 1024 */
  readonly maxPending?: number;
  /** How long a connection may wait for a ready worker before the primary answers 503, in ms. @default 5000 */
  readonly queueTimeout?: number;
  /** Restart backoff and crash-loop detection. */
  readonly restart?: RestartOptions;
  /** How often the primary pings each worker, in ms. @default 2000 */
  readonly heartbeatInterval?: number;
  /**
   * A worker that has not answered a ping for this long (its event loop is stuck) is killed and
   * replaced, in ms; 0 turns the heartbeat off. @default 10000
   */
  readonly heartbeatTimeout?: number;
  /** Replace a worker, gracefully, after it served about this many requests; 0 never. @default 0 */
  readonly maxRequests?: number;
  /**
   * Spread of `maxRequests`: each worker's limit is `maxRequests` plus a random 0..jitter, so that
   * workers started together are not all recycled together. @default 10% of maxRequests
   */
  readonly maxRequestsJitter?: number;
  /** Replace a worker, gracefully, once its resident set size passes this many bytes; 0 never. @default 0 */
  readonly maxMemory?: number;
  /** How many workers a rolling reload replaces at once. @default 1 */
  readonly reloadConcurrency?: number;
  /**
   * On SIGTERM and SIGINT, `close()` then exit (0 when every worker drained in time, 1 otherwise);
   * a second SIGINT kills the workers and exits 130. Set `false` to handle signals yourself.
   * @default true
   */
  readonly handleSignals?: boolean;
  /** With `handleSignals`, SIGHUP triggers `reload()`. @default false */
  readonly reloadOnSighup?: boolean;
  /**
   * A graceful drain (reload, scale down, recycling, the app's own `close()`) gives every
   * connection that is between requests back to the primary, which serves it on another worker,
   * instead of closing it: a client waiting to send, or a keep-alive client idle between two
   * requests, never sees its connection closed. It covers plaintext HTTP/1 servers; TLS, HTTP/2,
   * raw streams and upgraded sockets drain in place. Set `false` to close them as a drain used
   * to (a client pool that must rebalance by reconnecting, or to compare). Not while the primary
   * closes. @default true
   */
  readonly moveOnDrain?: boolean;
  /**
   * Where the workers' stdout and stderr go: `'inherit'` writes them to the primary's own (stdout
   * as is, stderr as it arrives); `'pipe'` emits them as `worker:output` events instead, for a
   * logger that writes whole lines or tags them.
   * @default 'inherit'
   */
  readonly output?: 'inherit' | 'pipe';
  /**
   * Run the workers as this user (a name from /etc/passwd or a numeric uid), with its primary group
   * (or `group`) and no supplementary groups; the primary, started as root, binds every port first,
   * including those below 1024. In drop-in mode the apps may then have the primary bind only ports
   * of 1024 and up, or those mapped in `dropIn.ports`, and no Unix socket path.
   */
  readonly user?: string | number;
  /** The workers' group (a name from /etc/group or a numeric gid), with `user`. @default the user's primary group */
  readonly group?: string | number;
  /**
   * Mode `primary`: how connections cross to the workers. `'native'`: `@handoff/fdpass`'s addon
   * accepts and passes the fds in numbered, acknowledged batches over a socketpair per worker
   * (Linux, where it built at install; elsewhere `start()` throws `HANDOFF_ERR_FDPASS_UNAVAILABLE`).
   * `'ipc'`: Node's child_process channel, one handle per round trip. `'auto'`: native where the
   * addon loads, else IPC. The choice is published once on the `handoff:transport:selected`
   * diagnostics channel. Left out: the `HANDOFF_TRANSPORT` environment variable if set, else
   * `'auto'`. The kernel modes pass no connections and ignore it.
   * @default 'auto'
   */
  readonly transport?: TransportOption;
}

/** The `transport` option: see {@link PrimaryOptions.transport}. */
export type TransportOption = 'auto' | 'native' | 'ipc';

/** The environment variable that sets `transport` where the option is left out (tests run the suite on each transport with it). */
export const TRANSPORT_ENV = 'HANDOFF_TRANSPORT';

/** The `transport` where neither the option nor `HANDOFF_TRANSPORT` says one. */
export const DEFAULT_TRANSPORT: TransportOption = 'auto';

/** Options after validation, with every default filled in. */
export interface ResolvedOptions {
  readonly worker: string;
  readonly workers: number;
  readonly listen: readonly ListenOption[];
  /** Drop-in mode: the port map and the resolved preload; `undefined` when off. */
  readonly dropIn:
    | {
        /** App port → the port to bind, or the passed socket (`{ fd, fdName? }`) that serves it. */
        readonly ports: ReadonlyMap<number, number | { readonly fd: number; readonly fdName?: string }>;
        readonly register: string;
        readonly host: string | undefined;
        readonly proxyProtocol: ResolvedProxyProtocol | undefined;
      }
    | undefined;
  readonly policy: Policy;
  readonly args: readonly string[];
  readonly execArgv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly readyTimeout: number;
  readonly drainTimeout: number;
  readonly maxPending: number;
  readonly queueTimeout: number;
  readonly restart: Required<RestartOptions>;
  readonly heartbeatInterval: number;
  readonly heartbeatTimeout: number;
  readonly maxRequests: number;
  readonly maxRequestsJitter: number;
  readonly maxMemory: number;
  readonly reloadConcurrency: number;
  readonly handleSignals: boolean;
  readonly reloadOnSighup: boolean;
  readonly moveOnDrain: boolean;
  readonly output: 'inherit' | 'pipe';
  /** Who the workers run as (`user`, `group`); undefined: as the primary. */
  readonly identity: Identity | undefined;
  readonly transport: TransportOption;
}

/**
 * The default drain: with the primary's SIGKILL backstop one second later, a stop finishes in 9 s,
 * inside Docker's default stop grace (10 s) and Kubernetes' (30 s) and systemd's (90 s).
 */
export const DEFAULT_DRAIN_TIMEOUT_MS = 8000;

function invalid(message: string): never {
  throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, message);
}

function count(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    invalid(`option ${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * What `listen` takes: a listener, `{ fdName }` (a socket systemd passed, by name), or `'systemd'`
 * (every socket systemd passed, in order).
 */
export type ListenInput = ListenOption | { readonly fdName: string; readonly protocol?: 'http' | 'tcp'; readonly proxyProtocol?: boolean | ProxyProtocolOptions } | 'systemd';

/** `'systemd'` entries expanded into one `{ fd, fdName }` per socket systemd passed. */
function expandSystemd(list: readonly unknown[]): unknown[] {
  if (!list.includes('systemd')) return [...list];
  const sockets = activatedSockets();
  if (sockets.length === 0) {
    invalid("option listen is 'systemd' but systemd passed no socket (LISTEN_FDS unset, or LISTEN_PID names another process); start the primary from a .socket unit, or with systemd-socket-activate");
  }
  return list.flatMap((entry) => (entry === 'systemd' ? sockets.map((s) => ({ fd: s.fd, fdName: s.name })) : [entry]));
}

/** `{ fd }` or `{ fdName }`: checked, and named when systemd passed it. */
function resolveFd(where: string, e: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(e)) {
    if (!FD_KEYS.includes(key)) invalid(`${where}.${key} is not an option of a listener on a passed socket; use ${FD_KEYS.join(', ')}`);
  }
  if (e.fdName !== undefined) {
    if (typeof e.fdName !== 'string' || e.fdName === '') invalid(`${where}.fdName must be a socket's FileDescriptorName=`);
    const socket = activatedSockets().find((s) => s.name === e.fdName && (e.fd === undefined || s.fd === e.fd));
    if (socket === undefined) invalid(`${where}.fdName: systemd passed no socket named ${JSON.stringify(e.fdName)} (passed: ${activatedSockets().map((s) => s.name).join(', ') || 'none'})`);
    return { ...e, fd: socket.fd };
  }
  if (typeof e.fd !== 'number' || !Number.isInteger(e.fd) || e.fd < 3) invalid(`${where}.fd must be an integer >= 3 (0-2 are stdin, stdout and stderr), got ${JSON.stringify(e.fd)}`);
  const named = activatedSockets().find((s) => s.fd === e.fd);
  return named === undefined || named.name === 'unknown' ? { ...e } : { ...e, fdName: named.name };
}

function resolveListen(value: unknown, dropIn: boolean): ListenOption[] {
  const list = expandSystemd(typeof value === 'number' ? [{ port: value }] : Array.isArray(value) ? value : value === undefined ? [] : [value]);
  if (dropIn) {
    if (list.length > 0) invalid("option listen must be left out with dropIn: the app's own listen() calls say where to listen (map ports with dropIn.ports)");
    return [];
  }
  if (list.length === 0) invalid('option listen is required: a port (3000), { port, host }, { path } or an array of them');
  return list.map((entry: unknown, i: number) => {
    const where = list.length > 1 ? `listen[${i}]` : 'listen';
    if (typeof entry !== 'object' || entry === null) invalid(`${where} must be { port, host? } or { path }`);
    const passed = 'fd' in (entry as object) || 'fdName' in (entry as object);
    const e = passed ? resolveFd(where, entry as Record<string, unknown>) : (entry as Record<string, unknown>);
    const keys = passed ? FD_KEYS : typeof e.path === 'string' ? PATH_KEYS : TCP_KEYS;
    for (const key of Object.keys(e)) {
      if (!keys.includes(key)) invalid(`${where}.${key} is not an option of a listener; use ${keys.join(', ')}`);
    }
    if (e.protocol !== undefined && e.protocol !== 'http' && e.protocol !== 'tcp') invalid(`${where}.protocol must be 'http' or 'tcp'`);
    if (e.backlog !== undefined) count(`${where}.backlog`, e.backlog, 511, 1);
    const proxyProtocol = resolveProxyProtocol(`${where}.proxyProtocol`, e.proxyProtocol);
    const copy: Record<string, unknown> = { ...e };
    if (proxyProtocol === undefined) delete copy.proxyProtocol;
    else copy.proxyProtocol = proxyProtocol;
    const resolved = copy as unknown as ListenOption;
    if (typeof e.path === 'string' || passed) {
      if (e.path === '') invalid(`${where}.path must not be empty`);
      return resolved;
    }
    if (typeof e.port !== 'number' || !Number.isInteger(e.port) || e.port < 0 || e.port > 65535) {
      invalid(`${where}.port must be an integer in 0..65535 (0 picks a free port), got ${JSON.stringify(e.port)}`);
    }
    if (e.host !== undefined && typeof e.host !== 'string') invalid(`${where}.host must be a string such as '127.0.0.1' or '::'`);
    return resolved;
  });
}

const TCP_KEYS = ['port', 'host', 'backlog', 'protocol', 'proxyProtocol'];
const PATH_KEYS = ['path', 'backlog', 'protocol', 'proxyProtocol'];
const FD_KEYS = ['fd', 'fdName', 'protocol', 'proxyProtocol'];
const PROXY_KEYS = ['trusted', 'timeout', 'maxHeaderBytes', 'maxPending'];

/** Validates a listener's `proxyProtocol` and fills its defaults; undefined when it is off. */
function resolveProxyProtocol(where: string, value: unknown): ResolvedProxyProtocol | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null || Array.isArray(value))) invalid(`${where} must be true, false or { trusted?, timeout?, maxHeaderBytes? }`);
  const settings = (value === true ? {} : value) as Record<string, unknown>;
  for (const key of Object.keys(settings)) {
    if (!PROXY_KEYS.includes(key)) invalid(`${where}.${key} is not an option of proxyProtocol; use ${PROXY_KEYS.join(', ')}`);
  }
  const timeout = count(`${where}.timeout`, settings.timeout, 3000, 1);
  if (timeout > 2_147_483_647) invalid(`${where}.timeout must be at most 2147483647 ms`);
  const maxHeaderBytes = count(`${where}.maxHeaderBytes`, settings.maxHeaderBytes, 4096, 107);
  const maxPending = count(`${where}.maxPending`, settings.maxPending, 1024, 1);
  if (maxHeaderBytes > 65_536) invalid(`${where}.maxHeaderBytes must be at most 65536`);
  let trusted: readonly string[] | undefined;
  if (settings.trusted !== undefined) {
    if (!Array.isArray(settings.trusted) || settings.trusted.some((x) => typeof x !== 'string')) invalid(`${where}.trusted must be an array of CIDR blocks such as '10.0.0.0/8'`);
    if (settings.trusted.length > 1024) invalid(`${where}.trusted has more than 1024 entries`);
    try {
      createTrustCheck(settings.trusted as string[]);
    } catch (error) {
      if (error instanceof HandoffProxyProtocolError) invalid(`${where}.${error.message}`);
      throw error;
    }
    trusted = [...(settings.trusted as string[])];
  }
  return { trusted, timeout, maxHeaderBytes, maxPending };
}

/** Every option of `createPrimary`: any other key is an error that names it. */
const PRIMARY_OPTION_KEYS: readonly (keyof PrimaryOptions)[] = [
  'worker', 'workers', 'listen', 'dropIn', 'policy', 'args', 'execArgv', 'env', 'readyTimeout', 'drainTimeout', 'maxPending', 'queueTimeout', 'restart',
  'heartbeatInterval', 'heartbeatTimeout', 'maxRequests', 'maxRequestsJitter', 'maxMemory', 'reloadConcurrency', 'handleSignals', 'reloadOnSighup',
  'moveOnDrain', 'output', 'user', 'group', 'transport',
];

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalid(`option ${name} must be a boolean`);
  return value;
}

/** Validates `createPrimary`'s options once, up front, and fills in every default. */
export function resolveOptions(options: PrimaryOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) invalid('createPrimary() needs an options object: { worker, listen }');
  for (const key of Object.keys(options)) {
    if (!(PRIMARY_OPTION_KEYS as readonly string[]).includes(key)) invalid(`${key} is not an option of createPrimary(); use ${PRIMARY_OPTION_KEYS.join(', ')}`);
  }
  const { worker } = options;
  let workerPath: string;
  if (worker instanceof URL) workerPath = fileURLToPath(worker);
  else if (typeof worker === 'string' && worker !== '') workerPath = worker.startsWith('file:') ? fileURLToPath(worker) : worker;
  else invalid('option worker is required: the path of the worker module, e.g. new URL("./worker.js", import.meta.url)');

  const workers = options.workers === 'auto' || options.workers === undefined ? countCpus().count : count('workers', options.workers, 1, 1);
  const policy = options.policy ?? roundRobin();
  if (typeof policy !== 'object' || policy === null || !['primary', 'shared', 'reuseport'].includes((policy as Policy).mode)) {
    invalid("option policy must be a policy object, e.g. roundRobin() from '@handoff/policies'");
  }
  if (policy.mode === 'primary' && typeof policy.pick !== 'function') invalid(`policy ${policy.name} of mode 'primary' must have a pick(workers, info) function`);
  const restart = options.restart ?? {};
  const stringArray = (name: string, v: unknown, fallback: readonly string[]): readonly string[] => {
    if (v === undefined) return fallback;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) invalid(`option ${name} must be an array of strings`);
    return v as string[];
  };
  const dropIn = resolveDropIn(options.dropIn, workerPath, policy);
  return {
    worker: workerPath,
    workers,
    listen: resolveListen(options.listen, dropIn !== undefined),
    dropIn,
    policy,
    args: stringArray('args', options.args, []),
    execArgv: stringArray('execArgv', options.execArgv, process.execArgv),
    env: options.env ?? {},
    readyTimeout: count('readyTimeout', options.readyTimeout, 30_000, 1),
    drainTimeout: count('drainTimeout', options.drainTimeout, DEFAULT_DRAIN_TIMEOUT_MS),
    maxPending: count('maxPending', options.maxPending, 1024),
    queueTimeout: count('queueTimeout', options.queueTimeout, 5000, 1),
    restart: {
      initialDelay: count('restart.initialDelay', restart.initialDelay, 100),
      maxDelay: count('restart.maxDelay', restart.maxDelay, 10_000),
      crashLoopCount: count('restart.crashLoopCount', restart.crashLoopCount, 5, 1),
      crashLoopWindow: count('restart.crashLoopWindow', restart.crashLoopWindow, 10_000, 1),
    },
    heartbeatInterval: count('heartbeatInterval', options.heartbeatInterval, 2000, 10),
    heartbeatTimeout: count('heartbeatTimeout', options.heartbeatTimeout, 10_000),
    maxRequests: count('maxRequests', options.maxRequests, 0),
    maxRequestsJitter: count('maxRequestsJitter', options.maxRequestsJitter, Math.floor((options.maxRequests ?? 0) / 10)),
    maxMemory: count('maxMemory', options.maxMemory, 0),
    reloadConcurrency: count('reloadConcurrency', options.reloadConcurrency, 1, 1),
    handleSignals: options.handleSignals !== false,
    reloadOnSighup: options.reloadOnSighup === true,
    moveOnDrain: flag('moveOnDrain', options.moveOnDrain, true),
    output: resolveOutput(options.output),
    identity: resolveIdentity(options.user, options.group),
    transport: resolveTransport(options.transport),
  };
}

function resolveTransport(value: unknown): TransportOption {
  const ok = (v: unknown): v is TransportOption => v === 'auto' || v === 'native' || v === 'ipc';
  if (value !== undefined) {
    if (!ok(value)) invalid(`option transport must be 'auto', 'native' or 'ipc', got ${JSON.stringify(value)}`);
    return value;
  }
  const env = process.env[TRANSPORT_ENV];
  if (env === undefined || env === '') return DEFAULT_TRANSPORT;
  if (!ok(env)) invalid(`option transport is left out and ${TRANSPORT_ENV}=${JSON.stringify(env)} names none: use 'auto', 'native' or 'ipc'`);
  return env;
}

function resolveOutput(value: unknown): 'inherit' | 'pipe' {
  if (value === undefined || value === 'inherit' || value === 'pipe') return value ?? 'inherit';
  invalid(`option output must be 'inherit' or 'pipe', got ${JSON.stringify(value)}`);
}

function resolveDropIn(value: unknown, workerPath: string, policy: Policy): ResolvedOptions['dropIn'] {
  if (value === undefined || value === false) return undefined;
  if (value !== true && (typeof value !== 'object' || value === null)) invalid('option dropIn must be true, false or { ports?, register? }');
  if (policy.mode === 'reuseport') invalid('option dropIn works with policies of mode primary and shared, not reusePort()');
  const settings = value === true ? {} : (value as DropInOptions);
  const ports = new Map<number, number | { readonly fd: number; readonly fdName?: string }>();
  for (const [from, to] of Object.entries(settings.ports ?? {}) as [string, unknown][]) {
    const app = Number(from);
    if (Number.isInteger(app) && app >= 0 && app <= 65535 && (to === 'systemd' || (typeof to === 'object' && to !== null && !Array.isArray(to)))) {
      ports.set(app, passedSocketFor(`dropIn.ports[${from}]`, to as DropInSocket));
      continue;
    }
    if (!Number.isInteger(app) || app < 0 || app > 65535 || typeof to !== 'number' || !Number.isInteger(to) || to < 0 || to > 65535) {
      invalid(`dropIn.ports must map ports to ports (integers in 0..65535) or to passed sockets ('systemd', { fd }, { fdName }), got ${JSON.stringify(from)}: ${JSON.stringify(to)}`);
    }
    ports.set(app, to);
  }
  if (settings.register !== undefined && (typeof settings.register !== 'string' || settings.register === '')) invalid('dropIn.register must be a module specifier or path');
  if (settings.host !== undefined && (typeof settings.host !== 'string' || settings.host === '')) invalid("dropIn.host must be a host such as '127.0.0.1' or '::'");
  return { ports, register: resolveRegister(workerPath, settings.register), host: settings.host, proxyProtocol: resolveProxyProtocol('dropIn.proxyProtocol', settings.proxyProtocol) };
}

/** A `dropIn.ports` socket: `'systemd'` (the one it passed), `{ fdName }` or `{ fd }`, checked. */
function passedSocketFor(where: string, value: DropInSocket): { fd: number; fdName?: string } {
  if (value === 'systemd') {
    const sockets = activatedSockets();
    if (sockets.length === 0) invalid(`${where} is 'systemd' but systemd passed no socket (LISTEN_FDS unset, or LISTEN_PID names another process); start the primary from a .socket unit, or with systemd-socket-activate`);
    if (sockets.length > 1) invalid(`${where} is 'systemd' but systemd passed ${sockets.length} sockets (${sockets.map((s) => s.name).join(', ')}); pick one by name: { fdName }`);
    return sockets[0]!.name === 'unknown' ? { fd: sockets[0]!.fd } : { fd: sockets[0]!.fd, fdName: sockets[0]!.name };
  }
  for (const key of Object.keys(value)) if (key !== 'fd' && key !== 'fdName') invalid(`${where}.${key} is not an option of a passed socket; use fd or fdName`);
  const resolved = resolveFd(where, value as Record<string, unknown>) as { fd: number; fdName?: string };
  return resolved.fdName === undefined ? { fd: resolved.fd } : { fd: resolved.fd, fdName: resolved.fdName };
}
