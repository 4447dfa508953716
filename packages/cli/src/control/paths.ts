import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
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
