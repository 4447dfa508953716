import type { StdioOptions } from 'node:child_process';
import type { SpawnOptionsLike } from './types.js';

/**
 * The worker's environment variable that says which of its fds is its native link (the index of
 * the link in the `stdio` array the primary forked it with). Unset: the worker has none.
 */
export const FDPASS_FD_ENV = 'HANDOFF_FDPASS_FD';

/** `stdio` as `fork()` would expand it: an array, with the `ipc` entry. */
export function stdioArray(options: SpawnOptionsLike): unknown[] {
  const s = options.stdio;
  if (Array.isArray(s)) return [...(s as unknown[])];
  if (typeof s === 'string') return [s, s, s, 'ipc'];
  return options.silent === true ? ['pipe', 'pipe', 'pipe', 'ipc'] : ['inherit', 'inherit', 'inherit', 'ipc'];
}

/**
 * `base` with `fd` appended to its stdio and its index in `env`. Node's spawn shares an integer
 * stdio entry with the child at that index (libuv dup2()s it there, which clears close-on-exec on
 * the child's copy only), so the child finds its end of the socketpair at a known fd.
 */
export function withLink<T extends SpawnOptionsLike>(base: T, fd: number | undefined): T & { stdio: StdioOptions; env: NodeJS.ProcessEnv } {
  const stdio = stdioArray(base);
  const env: NodeJS.ProcessEnv = { ...(base.env ?? process.env) };
  delete env[FDPASS_FD_ENV];
  if (fd !== undefined) {
    env[FDPASS_FD_ENV] = String(stdio.length);
    stdio.push(fd);
  }
  return { ...base, stdio: stdio as StdioOptions, env };
}
