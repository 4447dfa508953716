import net from 'node:net';
import type { ListenAddress } from '@handoff/protocol';
import type { PolicyMode } from '@handoff/policies';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';

/** The descriptor to adopt (an `FdListenOption`). */
interface PassedSocket {
  readonly fd: number;
  readonly fdName?: string | undefined;
}

/** The native TCP or Pipe handle Node wraps a descriptor in (the primary's `NativeHandle`). */
interface PassedHandle {
  close(): void;
  getsockname?(out: Record<string, unknown>): number;
}

/** An adopted socket, for the caller to make its listener of. */
export interface Adopted {
  readonly address: ListenAddress;
  readonly mode: 'primary' | 'shared';
  /** Mode `primary`: the server listening on it, whose connections the dispatcher takes. */
  readonly server: net.Server | undefined;
  /** Mode `shared`: the handle every worker accepts on. */
  readonly sharedHandle: PassedHandle | undefined;
  close(): void;
}

/** The first file descriptor systemd passes (`SD_LISTEN_FDS_START` in sd-daemon.h). */
const LISTEN_FDS_START = 3;

/** One socket passed by systemd (or any manager that speaks sd_listen_fds(3)). */
export interface ActivatedSocket {
  readonly fd: number;
  /** Its `FileDescriptorName=` (`LISTEN_FDNAMES`), `'unknown'` when none was given. */
  readonly name: string;
}

let taken: readonly ActivatedSocket[] | undefined;

/**
 * The sockets systemd passed to this process, as `sd_listen_fds(3)` reads them: `LISTEN_FDS`
 * descriptors from 3, named by `LISTEN_FDNAMES`, valid only if `LISTEN_PID` is this process. The
 * first call takes them and unsets the three variables, so that the workers (forked with this
 * environment) do not take them for theirs, as `sd_listen_fds(1)` does.
 */
export function activatedSockets(env: NodeJS.ProcessEnv = process.env): readonly ActivatedSocket[] {
  if (taken !== undefined) return taken;
  const pid = Number(env.LISTEN_PID);
  const count = Number(env.LISTEN_FDS);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  taken = pid === process.pid && Number.isInteger(count) && count > 0 ? Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] || 'unknown' })) : [];
  return taken;
}

type CreateServerHandle = (address: null, port: number, addressType: number, fd: number) => PassedHandle | number;

function failed(option: PassedSocket, what: string, cause?: unknown): HandoffPrimaryError {
  return new HandoffPrimaryError(PrimaryErrorCode.LISTEN_FAILED, `could not adopt file descriptor ${option.fd}${option.fdName === undefined ? '' : ` (${option.fdName})`}: ${what}; is it a listening socket passed to this process?`, { cause });
}

/**
 * Adopts a socket that is already bound and listening (systemd's, or any inherited descriptor):
 * mode `primary` accepts on it in the primary, mode `shared` hands it to every worker as is. It
 * cannot serve mode `reuseport`, whose workers each bind a socket of their own.
 */
export function adoptListener(option: PassedSocket, mode: PolicyMode): Promise<Adopted> {
  if (mode === 'reuseport') {
    throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, `policy reusePort() binds one socket per worker, so it cannot use the one socket of file descriptor ${option.fd}; use roundRobin() (or another policy of mode primary) or sharedHandle()`);
  }
  if (mode === 'shared') {
    const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
    if (typeof create !== 'function') throw failed(option, 'this Node.js runtime lacks net._createServerHandle');
    // With a descriptor, Node wraps it in a TCP or Pipe handle after its type (guessHandleType);
    // the port must be falsy then (lib/net.js asserts `!address && !port`), not -1.
    const handle = create(null, 0, -1, option.fd);
    if (typeof handle === 'number') throw failed(option, `error ${handle}`);
    const out: Record<string, unknown> = {};
    const tcp = typeof handle.getsockname === 'function' && handle.getsockname(out) === 0;
    const address: ListenAddress = tcp ? { port: out.port as number, host: out.address as string } : { path: `fd:${option.fd}` };
    return Promise.resolve({ address, mode: 'shared', server: undefined, sharedHandle: handle, close: () => handle.close() });
  }
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true });
    server.once('error', (error) => reject(failed(option, error.message, error)));
    server.listen({ fd: option.fd }, () => {
      const a = server.address();
      const address: ListenAddress = typeof a === 'string' ? { path: a } : a === null ? { path: `fd:${option.fd}` } : { port: a.port, host: a.address };
      resolve({ address, mode: 'primary', server, sharedHandle: undefined, close: () => server.close() });
    });
  });
}
