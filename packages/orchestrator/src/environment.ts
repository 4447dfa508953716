// What the options leave to the machine, read when the primary starts (start()), never at
// createPrimary(): a primary may be made long before it starts, and made in tests that never start
// it. Each read is here: systemd's sockets (LISTEN_FDS), users and groups (/etc/passwd, /etc/group),
// where the drop-in preload resolves, HANDOFF_TRANSPORT, and the CPUs that `workers: 'auto'` counts.
import { activatedSockets } from './activation.js';
import { countCpus } from './cpus.js';
import { primaryDefaults } from './defaults.js';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import { resolveIdentity } from './identity.js';
import type { DropInSocket, ListenOption, ResolvedOptions, TransportOption } from './options.js';
import { resolveRegister } from './preload.js';
import { isTransport, type ListenRequest, type PassedListenRequest, type ValidatedDropIn, type ValidatedOptions } from './validate-options.js';

/** The environment variable that sets `transport` where the option is left out (the suite runs on each transport with it). */
export const TRANSPORT_ENV = 'HANDOFF_TRANSPORT';

const NO_SYSTEMD_SOCKET = 'systemd passed no socket (LISTEN_FDS unset, or LISTEN_PID names another process); start the primary from a .socket unit, or with systemd-socket-activate';

function invalid(message: string): never {
  throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, message);
}

/**
 * Completes validated options from the machine: counts the CPUs for `workers: 'auto'`, finds the
 * sockets systemd passed (`'systemd'`, `{ fdName }`, and names `{ fd }`), resolves the drop-in
 * preload, looks `user` and `group` up, and reads `HANDOFF_TRANSPORT` where `transport` is left out.
 * A mistake found here throws the same `HANDOFF_ERR_INVALID_OPTION` naming the option as validation does.
 */
export function resolveEnvironment(options: ValidatedOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const { account, ...rest } = options;
  return {
    ...rest,
    workers: options.workers === 'auto' ? countCpus().count : options.workers,
    listen: placeListeners(options.listen, env),
    dropIn: placeDropIn(options.dropIn, options.worker, env),
    execArgv: options.execArgv ?? process.execArgv,
    identity: resolveIdentity(account),
    transport: options.transport ?? transportOf(env),
  };
}

function transportOf(env: NodeJS.ProcessEnv): TransportOption {
  const value = env[TRANSPORT_ENV];
  if (value === undefined || value === '') return primaryDefaults.transport;
  if (!isTransport(value)) invalid(`option transport is left out and ${TRANSPORT_ENV}=${JSON.stringify(value)} names none: use 'auto', 'native' or 'ipc'`);
  return value;
}

/** `'systemd'` entries expanded into one `{ fd, fdName }` per socket systemd passed; passed sockets found and named. */
function placeListeners(list: readonly ListenRequest[], env: NodeJS.ProcessEnv): ListenOption[] {
  return list.flatMap((entry, i): ListenOption[] => {
    const where = list.length > 1 ? `listen[${i}]` : 'listen';
    if (entry === 'systemd') {
      const sockets = activatedSockets(env);
      if (sockets.length === 0) invalid(`option ${where} is 'systemd' but ${NO_SYSTEMD_SOCKET}`);
      return sockets.map((s) => ({ fd: s.fd, fdName: s.name }));
    }
    if ('fd' in entry || 'fdName' in entry) return [{ ...(entry as PassedListenRequest), ...findSocket(where, entry as PassedListenRequest, env) }];
    return [entry as Exclude<ListenRequest, PassedListenRequest | 'systemd'>];
  });
}

/** A passed socket by name (which systemd must have passed) or by descriptor (named when systemd passed it). */
function findSocket(where: string, request: { readonly fd?: number; readonly fdName?: string }, env: NodeJS.ProcessEnv): { fd: number; fdName?: string } {
  const sockets = activatedSockets(env);
  if (request.fdName !== undefined) {
    const socket = sockets.find((s) => s.name === request.fdName && (request.fd === undefined || s.fd === request.fd));
    if (socket === undefined) invalid(`${where}.fdName: systemd passed no socket named ${JSON.stringify(request.fdName)} (passed: ${sockets.map((s) => s.name).join(', ') || 'none'})`);
    return { fd: socket.fd, fdName: request.fdName };
  }
  const fd = request.fd!;
  const named = sockets.find((s) => s.fd === fd);
  return named === undefined || named.name === 'unknown' ? { fd } : { fd, fdName: named.name };
}

function placeDropIn(dropIn: ValidatedDropIn | undefined, worker: string, env: NodeJS.ProcessEnv): ResolvedOptions['dropIn'] {
  if (dropIn === undefined) return undefined;
  const ports = new Map<number, number | { readonly fd: number; readonly fdName?: string }>();
  for (const [app, to] of dropIn.ports) ports.set(app, typeof to === 'number' ? to : dropInSocket(`dropIn.ports[${app}]`, to, env));
  return { ports, register: resolveRegister(worker, dropIn.register), host: dropIn.host, proxyProtocol: dropIn.proxyProtocol, sockets: dropIn.sockets };
}

/** A `dropIn.ports` socket: `'systemd'` is the one socket it passed (two or more: pick one by name). */
function dropInSocket(where: string, socket: DropInSocket, env: NodeJS.ProcessEnv): { fd: number; fdName?: string } {
  if (socket !== 'systemd') return findSocket(where, socket, env);
  const sockets = activatedSockets(env);
  if (sockets.length === 0) invalid(`${where} is 'systemd' but ${NO_SYSTEMD_SOCKET}`);
  if (sockets.length > 1) invalid(`${where} is 'systemd' but systemd passed ${sockets.length} sockets (${sockets.map((s) => s.name).join(', ')}); pick one by name: { fdName }`);
  const [only] = sockets as [{ fd: number; name: string }];
  return only.name === 'unknown' ? { fd: only.fd } : { fd: only.fd, fdName: only.name };
}
