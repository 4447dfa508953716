// The options of `createPrimary()`: their public types and the shape they have once resolved.
// Their defaults are in defaults.ts (`primaryDefaults`), their checks in validate-options.ts, and
// what they leave to the machine (systemd's sockets, users, CPUs) is read at start() by environment.ts.
import type { Policy } from '@handoff/policies';
import type { Identity } from './identity.js';

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
  /** The window of `crashLoopCount`, in ms. @default 10000 */
  readonly crashLoopWindow?: number;
}

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
  /**
   * Sockets already listening that serve app addresses a port number cannot name: a Unix socket
   * path, or the n-th `listen(0)` of each worker. An upgrade hands them to the new primary this way
   * (`primary.listeningSockets()`), so that the path stays and the port-0 port does not change.
   */
  readonly sockets?: readonly DropInAddressSocket[];
}

/** Drop-in mode: a socket already listening that serves one app address: see `dropIn.sockets`. */
export interface DropInAddressSocket {
  /** The address the app's `listen()` asks for: `{ path }`, or `{ port, host? }` (`port` 0 included). */
  readonly app: { readonly port: number; readonly host?: string } | { readonly path: string };
  /** Which of a worker's open servers on `app` it serves: 0 (the default) for the first, 1 for a second `listen(0)`… */
  readonly index?: number;
  /** The listening descriptor, inherited by this process. */
  readonly fd: number;
  /** A Unix socket: its path is this primary's to remove when it closes it (the primary that bound it handed it over); false by default. */
  readonly unlink?: boolean;
}

/**
 * Drop-in mode: a socket that is already listening, to serve an app port on instead of binding it
 * (`dropIn.ports: { 3000: { fdName: 'web' } }`): `'systemd'` is the one socket systemd passed,
 * `{ fdName }` one of its `FileDescriptorName=`s, `{ fd }` any inherited listening descriptor.
 */
export type DropInSocket = 'systemd' | { readonly fd: number } | { readonly fdName: string };

/** Options of `createPrimary`; their defaults are `primaryDefaults`. */
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
   * diagnostics channel. Left out: the `HANDOFF_TRANSPORT` environment variable if set (read at
   * `start()`), else `'auto'`. The kernel modes pass no connections and ignore it.
   * @default 'auto'
   */
  readonly transport?: TransportOption;
}

/** The `transport` option: see {@link PrimaryOptions.transport}. */
export type TransportOption = 'auto' | 'native' | 'ipc';

/** Options after validation and `start()`'s reads of the machine, with every default filled in. */
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
        readonly sockets: readonly DropInAddressSocket[];
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
 * What `listen` takes: a listener, `{ fdName }` (a socket systemd passed, by name), or `'systemd'`
 * (every socket systemd passed, in order).
 */
export type ListenInput = ListenOption | { readonly fdName: string; readonly protocol?: 'http' | 'tcp'; readonly proxyProtocol?: boolean | ProxyProtocolOptions } | 'systemd';
