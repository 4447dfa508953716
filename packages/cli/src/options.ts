import { primaryDefaults } from '@handoff/orchestrator';
import type { Policy } from '@handoff/policies';
import { resolvePolicy } from './policy.js';
import { bytes, choice, duration, integer, splitWords, text } from './units.js';
import { CliErrorCode, HandoffCliError } from './errors.js';

/** The commands of `handoff`. */
export const COMMANDS = ['start', 'status', 'reload', 'scale', 'stop', 'logs', 'ls', 'top', 'upgrade'] as const;
/** One of {@link COMMANDS}. */
export type Command = (typeof COMMANDS)[number];

/** How logs are written: tagged text, the app's bytes as they are, or JSON lines. */
export type LogFormat = 'text' | 'raw' | 'json';

/** An app port mapped to the port really bound (`--port 3000:8080`). */
export interface PortMapping {
  readonly from: number;
  readonly to: number;
}

/**
 * Everything `handoff start` can be told, by flag or in `handoff.config.*`. Every key is optional;
 * the defaults are in the options table (`handoff start --help` lists them).
 */
export interface HandoffConfig {
  /** The app's entry file, relative to the config file's folder. */
  readonly entry?: string;
  /** Arguments passed to the app (`process.argv.slice(2)` there). */
  readonly args?: readonly string[];
  /** Workers: a number, or `'auto'` for one per CPU the process may use (affinity and cgroup CPU quota). @default 'auto' */
  readonly workers?: number | 'auto';
  /** A policy name (`'least-connections'`, `'weighted:weights=3,1'`), `{ name, ...options }`, or a policy object. @default 'round-robin' */
  readonly policy?: string | { readonly name: string; readonly [option: string]: unknown } | Policy;
  /** The port the app serves on (`PORT` in each worker), or app-port mappings such as `'3000:8080'`. */
  readonly port?: number | string | ReadonlyArray<number | string>;
  /** Where the primary binds an app's `listen()` that names no host. @default every interface */
  readonly host?: string;
  /** The name that `status`, `reload`, `scale` and `stop` use. @default the entry's file name */
  readonly name?: string;
  /** Node flags for each worker: `'--import tsx --max-old-space-size=512'` or an array. */
  readonly nodeArgs?: string | readonly string[];
  /** A dotenv file whose variables each worker gets. */
  readonly envFile?: string;
  /** Extra environment variables for each worker. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long a draining worker may take: ms or `'10s'`. @default 8000 */
  readonly drainTimeout?: number | string;
  /** A drain moves HTTP/1 connections between requests to the new workers (`false`: closes them). @default true */
  readonly moveOnDrain?: boolean | 'on' | 'off';
  /** How long a worker may take to become ready: ms or `'30s'`. @default 30000 */
  readonly readyTimeout?: number | string;
  /** How long a connection may wait for a ready worker before a 503. @default 5000 */
  readonly queueTimeout?: number | string;
  /** Connections that may wait for a ready worker. @default 1024 */
  readonly maxPending?: number;
  /** Recycle a worker whose RSS passes this: bytes or `'512M'`. @default off */
  readonly maxMemory?: number | string;
  /** Recycle a worker after about this many requests. @default off */
  readonly maxRequests?: number;
  /** Kill a worker whose event loop is stuck this long: ms or `'10s'`; 0 off. @default 10000 */
  readonly heartbeatTimeout?: number | string;
  /** Workers a reload replaces at once. @default 1 */
  readonly reloadConcurrency?: number;
  /** `'text'` (default on a terminal), `'raw'` (default otherwise) or `'json'`. */
  readonly logFormat?: LogFormat;
  /** Reload when a file under the app's folder changes. @default false */
  readonly watch?: boolean;
  /** Serve `/metrics`, `/healthz` and `/readyz` (see `@handoff/metrics`) on this port, or `'host:port'`. @default off */
  readonly metrics?: number | string;
  /** Every connection starts with a PROXY protocol header (v1 or v2: HAProxy `send-proxy`, nginx `proxy_protocol on`). @default false */
  readonly proxyProtocol?: boolean;
  /** With `proxyProtocol`: CIDR blocks the proxies connect from (`['10.0.0.0/8']` or `'10.0.0.0/8,::1'`); others are closed unread. @default anyone */
  readonly proxyTrusted?: string | readonly string[];
  /** With `proxyProtocol`: how long a connection may take to send its header: ms or `'3s'`. @default 3000 */
  readonly proxyTimeout?: number | string;
  /** How connections cross to the workers: `'auto'` (native where `@handoff/fdpass` built, else IPC), `'native'` or `'ipc'`. @default 'auto' */
  readonly transport?: 'auto' | 'native' | 'ipc';
  /** Run the workers as this user (name or uid); the primary must run as root. */
  readonly user?: string | number;
  /** The workers' group (name or gid), with `user`. @default the user's primary group */
  readonly group?: string | number;
  /** Serve the app's port on a socket systemd passed: `'systemd'`, `'fd:3'`, `'name:web'`, or `'3000:name:web'` (app port first); or an array of them. */
  readonly listen?: string | readonly string[];
}

/** `--listen`: the app port served on a passed socket (`{ fd }`, `{ fdName }`, or systemd's one). */
export interface PassedListen {
  /** The app's port; undefined: the one `--port` gives. */
  readonly app: number | undefined;
  readonly socket: 'systemd' | { readonly fd: number } | { readonly fdName: string };
}

/** Where `--metrics` serves: a port, and a host when one was given. */
export interface MetricsAddress {
  readonly port: number;
  readonly host?: string;
}

/** What one option of the table is: its flag, its config key, its help, how its value is read. */
export interface OptionSpec {
  /** The config key (camelCase); the flag is its kebab-case. */
  readonly key: string;
  readonly short?: string;
  /** The value's placeholder in help; absent for a boolean switch. */
  readonly value?: string;
  readonly multiple?: boolean;
  readonly help: string;
  readonly defaultText?: string;
  readonly commands: readonly Command[];
  /** Whether `handoff.config.*` may set it (and `--flag` may, unless `configOnly`). */
  readonly inConfig: boolean;
  readonly configOnly?: boolean;
  /** Reads a flag's text (or texts, with `multiple`) or a config value into what the CLI uses. */
  readonly read?: (value: unknown, where: string) => unknown;
}

/** The flag of a config key: `drainTimeout` → `drain-timeout`. */
export function flagOf(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function ports(value: unknown, where: string): { port: number | undefined; map: PortMapping[] } {
  const list = Array.isArray(value) ? value : [value];
  let port: number | undefined;
  const map: PortMapping[] = [];
  for (const item of list) {
    const s = String(item);
    const m = /^(\d+):(\d+)$/.exec(s);
    if (m !== null) {
      const from = integer(m[1], where);
      const to = integer(m[2], where);
      if (from > 65535 || to > 65535) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: ports are 0..65535, got ${s}`);
      map.push({ from, to });
    } else {
      const p = integer(item, where);
      if (p > 65535) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where} must be a port in 0..65535, got ${s}`);
      port = p;
    }
  }
  return { port, map };
}

/** `--metrics 9100`, `--metrics 127.0.0.1:9100`, `--metrics [::1]:9100`. */
function metricsAddress(value: unknown, where: string): MetricsAddress {
  const s = String(value);
  const m = /^(?:\[([^\]]+)\]:|([^:\s]+):)?(\d+)$/.exec(s);
  if (m === null) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where} must be PORT or HOST:PORT (e.g. 9100, 127.0.0.1:9100, [::1]:9100), got ${JSON.stringify(value)}`);
  const port = integer(m[3], where);
  if (port > 65535) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: ports are 0..65535, got ${s}`);
  const host = m[1] ?? m[2];
  return host === undefined ? { port } : { port, host };
}

/** `--listen systemd`, `--listen fd:3`, `--listen name:web`, `--listen 3000:name:web` (repeatable). */
function passedSockets(value: unknown, where: string): PassedListen[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => {
    const s = String(item);
    const m = /^(?:(\d+):)?(?:(systemd)|fd:(\d+)|name:([A-Za-z0-9._-]{1,255}))$/.exec(s);
    if (typeof item !== 'string' || m === null) bad(where, "systemd, fd:N, name:NAME (a FileDescriptorName= of the .socket unit), optionally after the app's port (3000:name:web)", item);
    const app = m[1] === undefined ? undefined : integer(m[1], where);
    if (app !== undefined && app > 65535) bad(where, 'an app port in 0..65535 before the socket', item);
    if (m[3] !== undefined && Number(m[3]) < 3) bad(where, 'fd:N with N >= 3 (0-2 are stdin, stdout and stderr)', item);
    const socket = m[2] !== undefined ? ('systemd' as const) : m[3] !== undefined ? { fd: Number(m[3]) } : { fdName: m[4]! };
    return { app, socket };
  });
}

/** `--proxy-trusted 10.0.0.0/8,::1` (or an array in a config file): the CIDR blocks, checked by the primary. */
function cidrList(value: unknown, where: string): string[] {
  const list = (Array.isArray(value) ? value : [value]).flatMap((x) => (typeof x === 'string' ? x.split(',') : bad(where, 'CIDR blocks such as 10.0.0.0/8,::1', value)));
  const out = list.map((x) => x.trim()).filter((x) => x !== '');
  if (out.length === 0) bad(where, 'at least one CIDR block such as 10.0.0.0/8', value);
  return out;
}

/** `--user app`, `--user 1000`: a name, or a numeric id. */
function account(value: unknown, where: string): string | number {
  if (typeof value === 'number') return integer(value, where);
  const s = text(value, where);
  return /^\d+$/.test(s) ? integer(s, where) : s;
}

const START: readonly Command[] = ['start'];

/** A default of the primary as `--help` writes it: a duration in ms as `8s` or `250ms`. */
function shownDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A limit whose 0 means none, as `--help` writes it. */
function shownLimit(value: number): string {
  return value === 0 ? 'off' : String(value);
}

/** The defaults `--help` shows, read from the primary's own (`primaryDefaults`), never repeated here. */
const D = {
  workers: primaryDefaults.workers,
  policy: primaryDefaults.policy().name,
  drainTimeout: shownDuration(primaryDefaults.drainTimeout),
  moveOnDrain: primaryDefaults.moveOnDrain ? 'on' : 'off',
  readyTimeout: shownDuration(primaryDefaults.readyTimeout),
  queueTimeout: shownDuration(primaryDefaults.queueTimeout),
  maxPending: String(primaryDefaults.maxPending),
  maxMemory: shownLimit(primaryDefaults.maxMemory),
  maxRequests: shownLimit(primaryDefaults.maxRequests),
  heartbeatTimeout: shownDuration(primaryDefaults.heartbeatTimeout),
  reloadConcurrency: String(primaryDefaults.reloadConcurrency),
  proxyProtocol: primaryDefaults.listener.proxyProtocol ? 'on' : 'off',
  proxyTimeout: shownDuration(primaryDefaults.proxyProtocol.timeout),
  transport: `${primaryDefaults.transport} (or HANDOFF_TRANSPORT)`,
} as const;

/**
 * The one table of options: flags, `--help`, validation and the config schema all come from it,
 * so they cannot drift apart.
 */
export const OPTIONS: readonly OptionSpec[] = [
  { key: 'workers', short: 'w', value: 'N|auto', help: 'worker processes; auto: one per CPU this process may use (affinity, cgroup CPU quota)', defaultText: D.workers, commands: START, inConfig: true, read: (v, w) => (v === 'auto' ? 'auto' : integer(v, w, 1)) },
  {
    key: 'policy',
    value: 'NAME[:OPTS]',
    help: 'how connections spread: round-robin, least-connections, power-of-two-choices, peak-ewma[:decay=MS], random, weighted:weights=3,1, ip-hash[:vnodes=N], shared, balanced-shared[:tolerance=F,slack=N,busyAfter=MS]',
    defaultText: D.policy,
    commands: START,
    inConfig: true,
    read: (v, w) => resolvePolicy(v, w),
  },
  { key: 'port', short: 'p', value: 'PORT|APP:REAL', multiple: true, help: "the app's port (PORT in each worker); APP:REAL binds REAL where the app listens on APP (repeatable)", commands: START, inConfig: true, read: ports },
  { key: 'host', value: 'HOST', help: "where to bind an app's listen() that names no host", defaultText: 'every interface', commands: START, inConfig: true, read: text },
  {
    key: 'name',
    short: 'n',
    value: 'NAME',
    help: 'the name other terminals steer it by',
    defaultText: "the entry's file name",
    commands: ['start', 'status', 'reload', 'scale', 'stop', 'logs', 'top', 'upgrade'],
    inConfig: true,
    read: (v, w) => {
      const name = text(v, w);
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${w} must be letters, digits, '.', '_' or '-' (at most 64), got ${JSON.stringify(name)}`);
      return name;
    },
  },
  { key: 'nodeArgs', value: '"ARGS"', help: 'Node flags for each worker, e.g. "--import tsx --max-old-space-size=512"', commands: START, inConfig: true, read: (v, w) => (Array.isArray(v) ? v.map((x) => text(x, w)) : splitWords(text(v, w))) },
  { key: 'envFile', value: 'PATH', help: 'a dotenv file whose variables each worker gets', commands: START, inConfig: true, read: text },
  { key: 'env', help: 'extra environment variables for each worker', commands: START, inConfig: true, configOnly: true, read: stringRecord },
  { key: 'entry', help: "the app's entry file", commands: START, inConfig: true, configOnly: true, read: text },
  { key: 'args', help: 'arguments for the app', commands: START, inConfig: true, configOnly: true, read: (v, w) => (Array.isArray(v) ? v.map((x) => text(x, w)) : bad(w, 'an array of strings', v)) },
  { key: 'drainTimeout', value: 'MS', help: 'how long a draining worker may take (500ms, 10s, 2m)', defaultText: D.drainTimeout, commands: START, inConfig: true, read: duration },
  {
    key: 'moveOnDrain',
    value: 'on|off',
    help: 'a drain (reload, scale down) moves HTTP/1 connections between requests to the new workers; off: closes them (clients reconnect)',
    defaultText: D.moveOnDrain,
    commands: START,
    inConfig: true,
    read: (v, w) => (typeof v === 'boolean' ? v : v === 'on' || v === 'true' ? true : v === 'off' || v === 'false' ? false : bad(w, 'on or off', v)),
  },
  { key: 'readyTimeout', value: 'MS', help: 'how long a worker may take to become ready', defaultText: D.readyTimeout, commands: START, inConfig: true, read: (v, w) => Math.max(1, duration(v, w)) },
  { key: 'queueTimeout', value: 'MS', help: 'how long a connection may wait for a ready worker before a 503', defaultText: D.queueTimeout, commands: START, inConfig: true, read: (v, w) => Math.max(1, duration(v, w)) },
  { key: 'maxPending', value: 'N', help: 'connections that may wait for a ready worker; past it, 503', defaultText: D.maxPending, commands: START, inConfig: true, read: integer },
  { key: 'maxMemory', value: 'SIZE', help: 'recycle a worker whose RSS passes this (512M, 1G)', defaultText: D.maxMemory, commands: START, inConfig: true, read: bytes },
  { key: 'maxRequests', value: 'N', help: 'recycle a worker after about this many requests', defaultText: D.maxRequests, commands: START, inConfig: true, read: integer },
  { key: 'heartbeatTimeout', value: 'MS', help: 'kill a worker whose event loop is stuck this long; 0: off', defaultText: D.heartbeatTimeout, commands: START, inConfig: true, read: duration },
  { key: 'reloadConcurrency', value: 'N', help: 'workers a reload replaces at once', defaultText: D.reloadConcurrency, commands: START, inConfig: true, read: (v, w) => integer(v, w, 1) },
  { key: 'logFormat', value: 'FORMAT', help: 'text (a worker tag before each line), raw, or json (JSON lines)', defaultText: 'text on a terminal, else raw', commands: START, inConfig: true, read: (v, w) => choice(v, w, ['text', 'raw', 'json'] as const) },
  { key: 'watch', help: "reload when a file under the app's folder changes (development)", commands: START, inConfig: true, read: (v, w) => (typeof v === 'boolean' ? v : bad(w, 'true or false', v)) },
  { key: 'metrics', value: '[HOST:]PORT', help: 'serve Prometheus /metrics, /healthz and /readyz on this address (never the app\'s port)', defaultText: 'off', commands: START, inConfig: true, read: metricsAddress },
  { key: 'proxyProtocol', help: 'every connection starts with a PROXY protocol v1/v2 header (HAProxy send-proxy, nginx proxy_protocol on): the app sees the client it names', defaultText: D.proxyProtocol, commands: START, inConfig: true, read: (v, w) => (typeof v === 'boolean' ? v : bad(w, 'true or false', v)) },
  { key: 'proxyTrusted', value: 'CIDR,...', help: 'with --proxy-protocol: the proxies\' addresses (10.0.0.0/8,::1); a connection from anywhere else is closed unread', defaultText: 'anyone', commands: START, inConfig: true, read: cidrList },
  { key: 'proxyTimeout', value: 'MS', help: 'with --proxy-protocol: how long a connection may take to send its header', defaultText: D.proxyTimeout, commands: START, inConfig: true, read: (v, w) => Math.max(1, duration(v, w)) },
  { key: 'listen', value: '[APP:]SOCKET', multiple: true, help: "serve the app's port on a socket systemd passed instead of binding it: systemd (its one socket), fd:N, name:NAME (FileDescriptorName=); APP: the app's port, else --port's (repeatable)", commands: START, inConfig: true, read: passedSockets },
  { key: 'transport', value: 'NAME', help: "how connections cross to the workers: auto (native where @handoff/fdpass built, else ipc), native, ipc", defaultText: D.transport, commands: START, inConfig: true, read: (v, w) => choice(v, w, ['auto', 'native', 'ipc'] as const) },
  { key: 'user', value: 'USER', help: 'run the workers as this user (name or uid), no supplementary groups; the primary runs as root and binds first', commands: START, inConfig: true, read: account },
  { key: 'group', value: 'GROUP', help: 'with --user: the workers\' group (name or gid)', defaultText: "the user's primary group", commands: START, inConfig: true, read: account },
  { key: 'config', short: 'c', value: 'PATH', help: 'the config file', defaultText: 'handoff.config.{mjs,js,cjs,json} here', commands: START, inConfig: false, read: text },
  { key: 'json', help: 'print JSON instead of a table (logs: JSON lines)', commands: ['status', 'ls', 'logs'], inConfig: false },
  { key: 'timeout', value: 'MS', help: 'how long the workers may take to drain', defaultText: 'the drain timeout', commands: ['stop'], inConfig: false, read: duration },
  { key: 'node', value: 'PATH', help: 'the Node.js binary the new primary runs on (an upgrade of Node itself)', defaultText: "the running primary's", commands: ['upgrade'], inConfig: false, read: text },
  { key: 'help', short: 'h', help: 'show this help', commands: COMMANDS, inConfig: false },
];

function bad(where: string, expected: string, value: unknown): never {
  throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where} must be ${expected}, got ${JSON.stringify(value)}`);
}

function stringRecord(value: unknown, where: string): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(where, 'an object of strings', value);
  for (const [k, v] of Object.entries(value)) if (typeof v !== 'string') bad(`${where}.${k}`, 'a string', v);
  return value as Record<string, string>;
}

/** The options `command` accepts. */
export function optionsOf(command: Command): OptionSpec[] {
  return OPTIONS.filter((o) => o.commands.includes(command));
}
