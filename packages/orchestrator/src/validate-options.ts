// Longer than most modules: every option of the primary is checked here, in one place, so each
// mistake names its option the same way (one table, one reason to change: the options). Pure: it
// reads its argument and `primaryDefaults`, nothing of the machine, so createPrimary() runs it and
// unit tests call it directly; what it leaves to the machine, environment.ts reads at start().
import { fileURLToPath } from 'node:url';
import type { Policy } from '@handoff/policies';
import { createTrustCheck, HandoffProxyProtocolError } from '@handoff/proxy-protocol';
import { primaryDefaults } from './defaults.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import { validateAccount, type Account } from './identity.js';
import type { DropInAddressSocket, DropInSocket, FdListenOption, ListenOption, PrimaryOptions, ResolvedOptions, ResolvedProxyProtocol, TransportOption } from './options.js';

/** A `listen` entry on a passed socket, checked, that systemd's variables will name or find at `start()`. */
export interface PassedListenRequest {
  readonly fd?: number;
  readonly fdName?: string;
  readonly protocol?: 'http' | 'tcp';
  readonly proxyProtocol?: ResolvedProxyProtocol;
}

/** A `listen` entry after validation: a port or a path as given, a passed socket, or `'systemd'` (every socket it passed). */
export type ListenRequest = Exclude<ListenOption, FdListenOption> | PassedListenRequest | 'systemd';

/** `dropIn` after validation: its passed sockets and its preload are found at `start()`. */
export interface ValidatedDropIn {
  /** App port → the port to bind, or the passed socket that serves it. */
  readonly ports: ReadonlyMap<number, number | DropInSocket>;
  /** The preload as given; undefined: resolved from the worker module. */
  readonly register: string | undefined;
  readonly host: string | undefined;
  readonly proxyProtocol: ResolvedProxyProtocol | undefined;
  readonly sockets: readonly DropInAddressSocket[];
}

/** The options after validation, every default filled in, with what depends on the machine still to read. */
export interface ValidatedOptions extends Omit<ResolvedOptions, 'workers' | 'listen' | 'dropIn' | 'execArgv' | 'identity' | 'transport'> {
  /** `'auto'`: the CPUs, counted at `start()`. */
  readonly workers: number | 'auto';
  readonly listen: readonly ListenRequest[];
  readonly dropIn: ValidatedDropIn | undefined;
  /** undefined: the primary's own `process.execArgv`. */
  readonly execArgv: readonly string[] | undefined;
  /** `user` and `group`, looked up in /etc/passwd and /etc/group at `start()`. */
  readonly account: Account | undefined;
  /** undefined: `HANDOFF_TRANSPORT`, else `primaryDefaults.transport`. */
  readonly transport: TransportOption | undefined;
}

/** Every option of `createPrimary`: any other key is an error that names it. */
export const PRIMARY_OPTION_KEYS: readonly (keyof PrimaryOptions)[] = [
  'worker', 'workers', 'listen', 'dropIn', 'policy', 'args', 'execArgv', 'env', 'readyTimeout', 'drainTimeout', 'maxPending', 'queueTimeout', 'restart',
  'heartbeatInterval', 'heartbeatTimeout', 'maxRequests', 'maxRequestsJitter', 'maxMemory', 'reloadConcurrency', 'handleSignals', 'reloadOnSighup',
  'moveOnDrain', 'output', 'user', 'group', 'transport',
];
const RESTART_KEYS = ['initialDelay', 'maxDelay', 'crashLoopCount', 'crashLoopWindow'];
const DROP_IN_KEYS = ['ports', 'proxyProtocol', 'register', 'host', 'sockets'];
const TCP_KEYS = ['port', 'host', 'backlog', 'ipv6Only', 'protocol', 'proxyProtocol'];
const PATH_KEYS = ['path', 'backlog', 'protocol', 'proxyProtocol'];
const FD_KEYS = ['fd', 'fdName', 'protocol', 'proxyProtocol'];
const PROXY_KEYS = ['trusted', 'timeout', 'maxHeaderBytes', 'maxPending'];
const TRANSPORTS: readonly TransportOption[] = ['auto', 'native', 'ipc'];

function invalid(message: string): never {
  throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, message);
}

/** Whether `value` names a transport. */
export function isTransport(value: unknown): value is TransportOption {
  return (TRANSPORTS as readonly unknown[]).includes(value);
}

function count(name: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    invalid(`option ${name} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') invalid(`option ${name} must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

const isInt = (x: unknown, min: number, max: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(where: string, value: Record<string, unknown>, keys: readonly string[], what: string): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) invalid(`${where}.${key} is not an option of ${what}; use ${keys.join(', ')}`);
  }
}

function stringArray(name: string, value: unknown): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((x) => typeof x !== 'string')) invalid(`option ${name} must be an array of strings`);
  return value as string[];
}

/**
 * Checks `createPrimary()`'s options and fills in every default from `primaryDefaults`; throws a
 * `HandoffPrimaryError` (`HANDOFF_ERR_INVALID_OPTION`) naming the first option that is wrong or
 * unknown. Reads nothing of the machine: `resolveEnvironment()` completes the result at `start()`.
 */
export function validateOptions(options: PrimaryOptions): ValidatedOptions {
  if (!isRecord(options)) invalid('createPrimary() needs an options object: { worker, listen }');
  for (const key of Object.keys(options)) {
    if (!(PRIMARY_OPTION_KEYS as readonly string[]).includes(key)) invalid(`${key} is not an option of createPrimary(); use ${PRIMARY_OPTION_KEYS.join(', ')}`);
  }
  const { worker } = options;
  let workerPath: string;
  if (worker instanceof URL) workerPath = fileURLToPath(worker);
  else if (typeof worker === 'string' && worker !== '') workerPath = worker.startsWith('file:') ? fileURLToPath(worker) : worker;
  else invalid('option worker is required: the path of the worker module, e.g. new URL("./worker.js", import.meta.url)');

  const workers = options.workers === 'auto' ? 'auto' : options.workers === undefined ? primaryDefaults.workers : count('workers', options.workers, 1, 1);
  const policy = validatePolicy(options.policy ?? primaryDefaults.policy());
  if (options.restart !== undefined && !isRecord(options.restart)) invalid('option restart must be { initialDelay?, maxDelay?, crashLoopCount?, crashLoopWindow? }');
  const restart = (options.restart ?? {}) as Record<string, unknown>;
  onlyKeys('restart', restart, RESTART_KEYS, 'restart');
  if (options.env !== undefined && (!isRecord(options.env) || Object.values(options.env).some((v) => typeof v !== 'string'))) invalid('option env must be an object of strings');
  const maxRequests = count('maxRequests', options.maxRequests, primaryDefaults.maxRequests);
  const dropIn = validateDropIn(options.dropIn, policy);
  const d = primaryDefaults;
  return {
    worker: workerPath,
    workers,
    listen: validateListen(options.listen, dropIn !== undefined),
    dropIn,
    policy,
    args: stringArray('args', options.args) ?? d.args,
    execArgv: stringArray('execArgv', options.execArgv),
    env: options.env ?? d.env,
    readyTimeout: count('readyTimeout', options.readyTimeout, d.readyTimeout, 1),
    drainTimeout: count('drainTimeout', options.drainTimeout, d.drainTimeout),
    maxPending: count('maxPending', options.maxPending, d.maxPending),
    queueTimeout: count('queueTimeout', options.queueTimeout, d.queueTimeout, 1),
    restart: {
      initialDelay: count('restart.initialDelay', restart.initialDelay, d.restart.initialDelay),
      maxDelay: count('restart.maxDelay', restart.maxDelay, d.restart.maxDelay),
      crashLoopCount: count('restart.crashLoopCount', restart.crashLoopCount, d.restart.crashLoopCount, 1),
      crashLoopWindow: count('restart.crashLoopWindow', restart.crashLoopWindow, d.restart.crashLoopWindow, 1),
    },
    heartbeatInterval: count('heartbeatInterval', options.heartbeatInterval, d.heartbeatInterval, 10),
    heartbeatTimeout: count('heartbeatTimeout', options.heartbeatTimeout, d.heartbeatTimeout),
    maxRequests,
    // Integer arithmetic: the share in percent, floored.
    maxRequestsJitter: count('maxRequestsJitter', options.maxRequestsJitter, Math.floor((maxRequests * d.maxRequestsJitterPercent) / 100)),
    maxMemory: count('maxMemory', options.maxMemory, d.maxMemory),
    reloadConcurrency: count('reloadConcurrency', options.reloadConcurrency, d.reloadConcurrency, 1),
    handleSignals: flag('handleSignals', options.handleSignals, d.handleSignals),
    reloadOnSighup: flag('reloadOnSighup', options.reloadOnSighup, d.reloadOnSighup),
    moveOnDrain: flag('moveOnDrain', options.moveOnDrain, d.moveOnDrain),
    output: validateOutput(options.output),
    account: validateAccount(options.user, options.group),
    transport: validateTransport(options.transport),
  };
}

function validatePolicy(policy: unknown): Policy {
  if (!isRecord(policy) || !['primary', 'shared', 'reuseport'].includes((policy as unknown as Policy).mode)) {
    invalid("option policy must be a policy object, e.g. roundRobin() from '@handoff/policies'");
  }
  const p = policy as unknown as Policy;
  if (p.mode === 'primary' && typeof p.pick !== 'function') invalid(`policy ${p.name} of mode 'primary' must have a pick(workers, info) function`);
  return p;
}

function validateTransport(value: unknown): TransportOption | undefined {
  if (value !== undefined && !isTransport(value)) invalid(`option transport must be 'auto', 'native' or 'ipc', got ${JSON.stringify(value)}`);
  return value;
}

function validateOutput(value: unknown): 'inherit' | 'pipe' {
  if (value === undefined) return primaryDefaults.output;
  if (value === 'inherit' || value === 'pipe') return value;
  invalid(`option output must be 'inherit' or 'pipe', got ${JSON.stringify(value)}`);
}

function validateListen(value: unknown, dropIn: boolean): ListenRequest[] {
  const list: readonly unknown[] = typeof value === 'number' ? [{ port: value }] : Array.isArray(value) ? value : value === undefined ? [] : [value];
  if (dropIn) {
    if (list.length > 0) invalid("option listen must be left out with dropIn: the app's own listen() calls say where to listen (map ports with dropIn.ports)");
    return [];
  }
  if (list.length === 0) invalid('option listen is required: a port (3000), { port, host }, { path } or an array of them');
  return list.map((entry, i) => {
    const where = list.length > 1 ? `listen[${i}]` : 'listen';
    if (entry === 'systemd') return entry;
    if (!isRecord(entry)) invalid(`${where} must be { port, host? }, { path }, { fd }, { fdName } or 'systemd'`);
    const passed = 'fd' in entry || 'fdName' in entry;
    const keys = passed ? FD_KEYS : typeof entry.path === 'string' ? PATH_KEYS : TCP_KEYS;
    onlyKeys(where, entry, keys, passed ? 'a listener on a passed socket' : 'a listener');
    if (passed) checkPassedSocket(where, entry);
    if (entry.protocol !== undefined && entry.protocol !== 'http' && entry.protocol !== 'tcp') invalid(`${where}.protocol must be 'http' or 'tcp'`);
    if (entry.backlog !== undefined) count(`${where}.backlog`, entry.backlog, primaryDefaults.listener.backlog, 1);
    if (entry.ipv6Only !== undefined) flag(`${where}.ipv6Only`, entry.ipv6Only, primaryDefaults.listener.ipv6Only);
    const proxyProtocol = validateProxyProtocol(`${where}.proxyProtocol`, entry.proxyProtocol);
    const copy: Record<string, unknown> = { ...entry };
    if (proxyProtocol === undefined) delete copy.proxyProtocol;
    else copy.proxyProtocol = proxyProtocol;
    if (passed) return copy as PassedListenRequest;
    if (typeof entry.path === 'string') {
      if (entry.path === '') invalid(`${where}.path must not be empty`);
      return copy as unknown as ListenRequest;
    }
    if (typeof entry.port !== 'number' || !Number.isInteger(entry.port) || entry.port < 0 || entry.port > 65535) {
      invalid(`${where}.port must be an integer in 0..65535 (0 picks a free port), got ${JSON.stringify(entry.port)}`);
    }
    if (entry.host !== undefined && typeof entry.host !== 'string') invalid(`${where}.host must be a string such as '127.0.0.1' or '::'`);
    return copy as unknown as ListenRequest;
  });
}

/** `{ fd }` or `{ fdName }` (or both, which must agree at `start()`). */
function checkPassedSocket(where: string, e: Record<string, unknown>): void {
  if (e.fdName !== undefined && (typeof e.fdName !== 'string' || e.fdName === '')) invalid(`${where}.fdName must be a socket's FileDescriptorName=`);
  if (e.fdName === undefined || e.fd !== undefined) {
    if (typeof e.fd !== 'number' || !Number.isInteger(e.fd) || e.fd < 3) invalid(`${where}.fd must be an integer >= 3 (0-2 are stdin, stdout and stderr), got ${JSON.stringify(e.fd)}`);
  }
}

/** Validates a listener's `proxyProtocol` and fills its defaults; undefined when it is off. */
function validateProxyProtocol(where: string, value: unknown): ResolvedProxyProtocol | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && !isRecord(value)) invalid(`${where} must be true, false or { trusted?, timeout?, maxHeaderBytes?, maxPending? }`);
  const settings = value === true ? {} : value;
  onlyKeys(where, settings, PROXY_KEYS, 'proxyProtocol');
  const d = primaryDefaults.proxyProtocol;
  const timeout = count(`${where}.timeout`, settings.timeout, d.timeout, 1);
  if (timeout > 2_147_483_647) invalid(`${where}.timeout must be at most 2147483647 ms`);
  const maxHeaderBytes = count(`${where}.maxHeaderBytes`, settings.maxHeaderBytes, d.maxHeaderBytes, 107);
  const maxPending = count(`${where}.maxPending`, settings.maxPending, d.maxPending, 1);
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

function validateDropIn(value: unknown, policy: Policy): ValidatedDropIn | undefined {
  if (value === undefined || value === false) return undefined;
  if (value !== true && !isRecord(value)) invalid('option dropIn must be true, false or { ports?, register?, host?, proxyProtocol?, sockets? }');
  if (policy.mode === 'reuseport') invalid('option dropIn works with policies of mode primary and shared, not reusePort()');
  const settings = value === true ? {} : value;
  onlyKeys('dropIn', settings, DROP_IN_KEYS, 'dropIn');
  if (settings.ports !== undefined && !isRecord(settings.ports)) invalid('dropIn.ports must map app ports to ports or passed sockets, e.g. { 3000: 8080 }');
  const ports = new Map<number, number | DropInSocket>();
  for (const [from, to] of Object.entries((settings.ports ?? {}) as Record<string, unknown>)) {
    const app = Number(from);
    const appOk = from !== '' && Number.isInteger(app) && app >= 0 && app <= 65535;
    if (appOk && (to === 'systemd' || isRecord(to))) {
      ports.set(app, validateDropInSocket(`dropIn.ports[${from}]`, to));
      continue;
    }
    if (!appOk || typeof to !== 'number' || !Number.isInteger(to) || to < 0 || to > 65535) {
      invalid(`dropIn.ports must map ports to ports (integers in 0..65535) or to passed sockets ('systemd', { fd }, { fdName }), got ${JSON.stringify(from)}: ${JSON.stringify(to)}`);
    }
    ports.set(app, to);
  }
  if (settings.register !== undefined && (typeof settings.register !== 'string' || settings.register === '')) invalid('dropIn.register must be a module specifier or path');
  if (settings.host !== undefined && (typeof settings.host !== 'string' || settings.host === '')) invalid("dropIn.host must be a host such as '127.0.0.1' or '::'");
  const sockets = validateAddressSockets(settings.sockets);
  return { ports, register: settings.register as string | undefined, host: settings.host as string | undefined, proxyProtocol: validateProxyProtocol('dropIn.proxyProtocol', settings.proxyProtocol), sockets };
}

/** `dropIn.sockets`: each `{ app: { path } | { port, host? }, index?, fd, unlink? }`. */
function validateAddressSockets(value: unknown): DropInAddressSocket[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid('dropIn.sockets must be an array of { app, index?, fd, unlink? }');
  return value.map((entry: unknown, i) => {
    const where = `dropIn.sockets[${i}]`;
    if (!isRecord(entry)) invalid(`${where} must be { app, index?, fd, unlink? }`);
    onlyKeys(where, entry, ['app', 'index', 'fd', 'unlink'], 'a drop-in socket');
    const app = entry.app;
    const path = isRecord(app) && typeof app.path === 'string' && app.path !== '' && Object.keys(app).length === 1;
    const tcp = isRecord(app) && isInt(app.port, 0, 65535) && (app.host === undefined || (typeof app.host === 'string' && app.host !== '')) && Object.keys(app).every((k) => k === 'port' || k === 'host');
    if (!path && !tcp) invalid(`${where}.app must be { path } or { port, host? }, got ${JSON.stringify(app)}`);
    if (entry.index !== undefined && !isInt(entry.index, 0, 1_000_000)) invalid(`${where}.index must be an integer >= 0`);
    if (!isInt(entry.fd, 0, 2 ** 31 - 1)) invalid(`${where}.fd must be a file descriptor (an integer >= 0)`);
    if (entry.unlink !== undefined && typeof entry.unlink !== 'boolean') invalid(`${where}.unlink must be a boolean`);
    return entry as unknown as DropInAddressSocket;
  });
}

/** A `dropIn.ports` socket: `'systemd'` (the one it passed), `{ fdName }` or `{ fd }`. */
function validateDropInSocket(where: string, value: 'systemd' | Record<string, unknown>): DropInSocket {
  if (value === 'systemd') return value;
  for (const key of Object.keys(value)) if (key !== 'fd' && key !== 'fdName') invalid(`${where}.${key} is not an option of a passed socket; use fd or fdName`);
  checkPassedSocket(where, value);
  return value as DropInSocket;
}
