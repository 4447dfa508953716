import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliErrorCode, HandoffCliError } from '../errors.js';

/** Longest Unix socket path Linux accepts (`sun_path` is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * The folder of this user's control sockets: `$XDG_RUNTIME_DIR/handoff`, else `handoff-<uid>` in
 * the temp folder. Only its owner may enter it.
 */
export function controlDir(env: NodeJS.ProcessEnv = process.env): string {
  const uid = process.getuid?.() ?? 0;
  return env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== '' ? join(env.XDG_RUNTIME_DIR, 'handoff') : join(tmpdir(), `handoff-${uid}`);
}

/**
 * Creates the control folder (mode 0700) or checks the one there: a real folder (no symlink), owned
 * by this user, closed to everyone else. One that another user owns is refused, not used.
 */
export function ensureControlDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory()) throw new HandoffCliError(CliErrorCode.CONTROL_UNSAFE, `the control folder ${dir} is not a folder (a symlink?); remove it`);
  if (uid !== undefined && stat.uid !== uid) throw new HandoffCliError(CliErrorCode.CONTROL_UNSAFE, `the control folder ${dir} belongs to uid ${stat.uid}, not to you (uid ${uid}); remove it or set XDG_RUNTIME_DIR`);
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** The control socket of the primary called `name`. */
export function socketPath(dir: string, name: string): string {
  const path = join(dir, `${name}.sock`);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new HandoffCliError(CliErrorCode.CONTROL_UNSAFE, `the control socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes; choose a shorter --name or XDG_RUNTIME_DIR`);
  }
  return path;
}

/** The names of the primaries that have a socket in `dir` (running or stale). */
export function listNames(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.sock'))
      .map((f) => f.slice(0, -'.sock'.length))
      .sort();
  } catch {
    return [];
  }
}

/** Who owns the control folder and socket of a root primary whose workers run as another user. */
export interface ControlOwner {
  readonly uid: number;
  readonly gid: number;
}

/** A name or id of /etc/passwd (`field` 2) or /etc/group, as its numeric id; undefined when unknown. */
function idOf(file: string, value: string | number): { id: number; gid: number } | undefined {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No file: numeric ids only.
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length > 3 && (f[0] === String(value) || (typeof value === 'number' && Number(f[2]) === value))) return { id: Number(f[2]), gid: Number(f[3]) };
  }
  return typeof value === 'number' ? { id: value, gid: NaN } : undefined;
}

/**
 * `--user` on a root primary: the control socket belongs to that user, so that the user the app
 * runs as steers it (`sudo -u app handoff status`); undefined otherwise (the primary's own user).
 * Unknown names are left to the primary, which says what is wrong with them.
 */
export function controlOwner(user: string | number | undefined, group: string | number | undefined): ControlOwner | undefined {
  if (user === undefined || process.getuid?.() !== 0) return undefined;
  const account = idOf('/etc/passwd', user);
  if (account === undefined || account.id === 0) return undefined;
  const gid = group === undefined ? account.gid : idOf('/etc/group', group)?.id;
  return gid === undefined || !Number.isInteger(gid) ? undefined : { uid: account.id, gid };
}

/**
 * The control folder of `owner`, as that user's own commands find it when `XDG_RUNTIME_DIR` is
 * unset (`sudo -u app` resets it): `handoff-<uid>` in the temp folder. A root primary's own
 * `XDG_RUNTIME_DIR` (`/run/user/0`) is closed to that user, so it is not used.
 */
export function ownerControlDir(owner: ControlOwner): string {
  return join(tmpdir(), `handoff-${owner.uid}`);
}

/**
 * Makes `dir` root's and closed (0700) while the root primary creates its socket in it, so that
 * nobody can swap what is in it meanwhile: a real folder, owned by root or by `owner` already
 * (anyone else's is refused). `handOver(socket)` then gives the socket and the folder to `owner` (`handOver()`: the folder
 * alone, back, when no socket was made: a primary of that name runs already).
 */
export function claimOwnedControlDir(dir: string, owner: ControlOwner): { handOver(socket?: string): void } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new HandoffCliError(CliErrorCode.CONTROL_UNSAFE, `the control folder ${dir} is not a folder (a symlink?); remove it`);
  if (stat.uid !== 0 && stat.uid !== owner.uid) throw new HandoffCliError(CliErrorCode.CONTROL_UNSAFE, `the control folder ${dir} belongs to uid ${stat.uid}, neither root nor the workers' user (uid ${owner.uid}); remove it`);
  chownSync(dir, 0, 0);
  chmodSync(dir, 0o700);
  // What the user left there could point a root primary's probe of a running name elsewhere: only
  // sockets stay (a link named like one is removed, never followed).
  for (const entry of readdirSync(dir)) {
    if (entry.endsWith('.sock') && !lstatSync(join(dir, entry)).isSocket()) unlinkSync(join(dir, entry));
  }
  return {
    handOver(socket) {
      if (socket !== undefined) chownSync(socket, owner.uid, owner.gid);
      chownSync(dir, owner.uid, owner.gid);
    },
  };
}
