import type { ReusePortPolicy } from './types.js';

/**
 * Every worker binds its own listening socket to the port with `SO_REUSEPORT`, and the kernel
 * hashes each new connection (by its address and port) to one of them: no per-connection IPC and
 * no shared accept queue, so no thundering herd and an even spread by count. Choose it on Linux for
 * many short connections when the primary's dispatch would be the bottleneck. Needs Node.js
 * >= 22.12 (or >= 23.1) on Linux, FreeBSD or macOS: elsewhere `start()` fails with
 * `HANDOFF_ERR_REUSEPORT_UNSUPPORTED`; it never falls back silently. Beware: connections that sit
 * in a worker's own accept queue when that worker closes its socket (a crash, a reload) are reset
 * by the kernel, not moved to the others, unless the host sets `net.ipv4.tcp_migrate_req=1`
 * (Linux >= 5.14, per network namespace), which moves them to another worker's socket; and the
 * hash is blind to load.
 */
export function reusePort(): ReusePortPolicy {
  return { mode: 'reuseport', name: 'reuseport' };
}
