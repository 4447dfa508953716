import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { parseEnv } from 'node:util';
import type { Policy } from '@handoff/policies';
import { primaryDefaults, type PrimaryOptions } from '@handoff/orchestrator';
import { CliErrorCode, HandoffCliError } from './errors.js';
import type { LogFormat, MetricsAddress, PassedListen, PortMapping } from './options.js';

/** Everything `handoff start` runs with, after config and flags were merged (flags win). */
export interface StartSettings {
  readonly entry: string;
  readonly args: readonly string[];
  readonly name: string;
  readonly workers: number | 'auto';
  readonly policy: Policy;
  readonly port: number | undefined;
  readonly portMap: readonly PortMapping[];
  readonly host: string | undefined;
  readonly nodeArgs: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly drainTimeout: number;
  readonly moveOnDrain: boolean | undefined;
  readonly readyTimeout: number | undefined;
  readonly queueTimeout: number | undefined;
  readonly maxPending: number | undefined;
  readonly maxMemory: number | undefined;
  readonly maxRequests: number | undefined;
  readonly heartbeatTimeout: number | undefined;
  readonly reloadConcurrency: number | undefined;
  readonly logFormat: LogFormat;
  readonly watch: boolean;
  /** `--metrics`: where `/metrics` is served; undefined: not at all. */
  readonly metrics: MetricsAddress | undefined;
  /** `--proxy-protocol` (with `--proxy-trusted`, `--proxy-timeout`); undefined: off. */
  readonly proxyProtocol: { readonly trusted?: readonly string[]; readonly timeout?: number } | undefined;
  /** `--listen`: app port → the passed socket that serves it. */
  readonly passed: ReadonlyMap<number, PassedListen['socket']>;
  readonly user: string | number | undefined;
  readonly group: string | number | undefined;
  /** `--transport`; undefined: the primary's default (`HANDOFF_TRANSPORT`, else `'auto'`). */
  readonly transport: 'auto' | 'native' | 'ipc' | undefined;
}

/**
 * Merges a config file's values (`config`) and the flags (`flags`, which win) into the settings of
 * `start`. `entry` comes from the first positional argument, else the config.
 */
export function resolveSettings(cwd: string, config: Readonly<Record<string, unknown>>, flags: Readonly<Record<string, unknown>>, positionals: readonly string[], appArgs: readonly string[], isTTY: boolean): StartSettings {
  const v = { ...config, ...flags } as Record<string, unknown>;
  if (positionals.length > 1) throw new HandoffCliError(CliErrorCode.USAGE, `handoff start takes one entry file, got ${positionals.join(' ')}; pass the app's own arguments after --`);
  const entryArg = positionals[0] !== undefined ? resolve(cwd, positionals[0]) : (config.entry as string | undefined);
  if (entryArg === undefined) throw new HandoffCliError(CliErrorCode.USAGE, 'handoff start needs the entry file of your app: handoff start app.js (or entry in handoff.config.mjs)');
  if (!existsSync(entryArg)) throw new HandoffCliError(CliErrorCode.USAGE, `the entry file ${entryArg} does not exist`);
  const policy = (v.policy as Policy | undefined) ?? primaryDefaults.policy();
  if (policy.mode === 'reuseport') {
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, "--policy reuseport: handoff start runs apps in drop-in mode, which works with policies of mode primary and shared; choose balanced-shared for kernel-side accepts");
  }
  const ports = v.port as { port: number | undefined; map: PortMapping[] } | undefined;
  const env: Record<string, string> = {};
  if (typeof v.envFile === 'string') {
    const path = resolve(cwd, v.envFile);
    if (!existsSync(path)) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `--env-file ${v.envFile} does not exist`);
    Object.assign(env, parseEnv(readFileSync(path, 'utf8')));
  }
  Object.assign(env, v.env as Record<string, string> | undefined);
  if (ports?.port !== undefined) env.PORT = String(ports.port);
  if (v.proxyProtocol !== true) {
    for (const key of ['proxyTrusted', 'proxyTimeout'] as const) {
      if (v[key] !== undefined) throw new HandoffCliError(CliErrorCode.USAGE, `--${key === 'proxyTrusted' ? 'proxy-trusted' : 'proxy-timeout'} says how PROXY protocol headers are read: add --proxy-protocol (proxyProtocol: true)`);
    }
  }
  const proxyProtocol =
    v.proxyProtocol === true ? { ...(v.proxyTrusted !== undefined ? { trusted: v.proxyTrusted as string[] } : {}), ...(v.proxyTimeout !== undefined ? { timeout: v.proxyTimeout as number } : {}) } : undefined;
  const passed = new Map<number, PassedListen['socket']>();
  for (const { app, socket } of (v.listen as PassedListen[] | undefined) ?? []) {
    const port = app ?? ports?.port;
    const shown = typeof socket === 'string' ? socket : 'fd' in socket ? `fd:${socket.fd}` : `name:${socket.fdName}`;
    if (port === undefined) throw new HandoffCliError(CliErrorCode.USAGE, `--listen ${shown} serves the app's port on that socket: say which, with --port 3000 (PORT in each worker) or --listen 3000:${shown}`);
    if (passed.has(port)) throw new HandoffCliError(CliErrorCode.USAGE, `--listen: the app's port ${port} is given two sockets; one each (--listen 3000:name:web --listen 9000:name:admin)`);
    if ((ports?.map ?? []).some((m) => m.from === port)) throw new HandoffCliError(CliErrorCode.USAGE, `--listen ${shown} and --port ${port}:… both say where the app's port ${port} is served; keep one`);
    passed.set(port, socket);
  }
  return {
    entry: entryArg,
    args: appArgs.length > 0 ? appArgs : ((config.args as string[] | undefined) ?? []),
    name: (v.name as string | undefined) ?? (basename(entryArg, extname(entryArg)).replace(/[^A-Za-z0-9._-]/g, '_') || 'app'),
    workers: (v.workers as number | 'auto' | undefined) ?? primaryDefaults.workers,
    policy,
    port: ports?.port,
    portMap: ports?.map ?? [],
    host: v.host as string | undefined,
    nodeArgs: (v.nodeArgs as string[] | undefined) ?? [],
    env,
    drainTimeout: (v.drainTimeout as number | undefined) ?? primaryDefaults.drainTimeout,
    moveOnDrain: v.moveOnDrain as boolean | undefined,
    readyTimeout: v.readyTimeout as number | undefined,
    queueTimeout: v.queueTimeout as number | undefined,
    maxPending: v.maxPending as number | undefined,
    maxMemory: v.maxMemory as number | undefined,
    maxRequests: v.maxRequests as number | undefined,
    heartbeatTimeout: v.heartbeatTimeout as number | undefined,
    reloadConcurrency: v.reloadConcurrency as number | undefined,
    logFormat: (v.logFormat as LogFormat | undefined) ?? (isTTY ? 'text' : 'raw'),
    watch: v.watch === true,
    metrics: v.metrics as MetricsAddress | undefined,
    proxyProtocol,
    passed,
    user: v.user as string | number | undefined,
    group: v.group as string | number | undefined,
    transport: v.transport as StartSettings['transport'],
  };
}

/**
 * The drop-in preload of the `@handoff/worker` this CLI depends on: the app's folder needs no
 * handoff dependency of its own.
 */
export function registerPath(): string {
  return createRequire(import.meta.url).resolve('@handoff/worker/register');
}

/**
 * The primary's options for `settings`. Every app runs in drop-in mode: an app that calls
 * `listen()` asks the primary through the preload, and one that calls `serve()` does the same
 * (see `@handoff/worker`), so nothing tells them apart.
 */
export function primaryOptions(settings: StartSettings): PrimaryOptions {
  const ports: Record<number, number | PassedListen['socket']> = {};
  for (const { from, to } of settings.portMap) ports[from] = to;
  // systemd's sockets: the app's listen(port) is served on the socket instead of a bind.
  for (const [from, socket] of settings.passed) ports[from] = socket;
  const optional = <K extends keyof PrimaryOptions>(key: K, value: PrimaryOptions[K] | undefined): Partial<PrimaryOptions> => (value === undefined ? {} : { [key]: value });
  return {
    worker: settings.entry,
    workers: settings.workers,
    policy: settings.policy,
    dropIn: { ports, register: registerPath(), ...(settings.host !== undefined ? { host: settings.host } : {}), ...(settings.proxyProtocol !== undefined ? { proxyProtocol: settings.proxyProtocol } : {}) },
    args: settings.args,
    execArgv: settings.nodeArgs,
    env: settings.env,
    drainTimeout: settings.drainTimeout,
    handleSignals: false,
    output: 'pipe',
    ...optional('moveOnDrain', settings.moveOnDrain),
    ...optional('readyTimeout', settings.readyTimeout),
    ...optional('queueTimeout', settings.queueTimeout),
    ...optional('maxPending', settings.maxPending),
    ...optional('maxMemory', settings.maxMemory),
    ...optional('maxRequests', settings.maxRequests),
    ...optional('heartbeatTimeout', settings.heartbeatTimeout),
    ...optional('reloadConcurrency', settings.reloadConcurrency),
    ...optional('user', settings.user),
    ...optional('group', settings.group),
    ...optional('transport', settings.transport),
  };
}

/** The primary's option names in its validation messages, as the flags that set them. */
const FLAG_OF_OPTION: ReadonlyArray<readonly [RegExp, string]> = [
  [/dropIn\.proxyProtocol\.trusted(\[\d+\])?/g, '--proxy-trusted'],
  [/dropIn\.proxyProtocol\.timeout/g, '--proxy-timeout'],
  [/dropIn\.ports\[(\d+)\](\.fdName|\.fd)?/g, '--listen (app port $1)'],
  [/pick one by name: \{ fdName \}/g, 'pick one by name: --listen APP:name:NAME'],
  [/option user/g, '--user'],
  [/option group/g, '--group'],
  [/options user and group/g, '--user and --group'],
];

/**
 * A mistake `createPrimary()` found in the options the flags made, reworded with the flags' names
 * (`dropIn.ports[3000].fdName: …` → `--listen (app port 3000): …`).
 */
export function inFlagTerms(message: string): string {
  return FLAG_OF_OPTION.reduce((m, [pattern, flag]) => m.replace(pattern, flag), message);
}

/** The folder `--watch` watches: the entry's. */
export function appFolder(settings: StartSettings): string {
  return dirname(settings.entry);
}
