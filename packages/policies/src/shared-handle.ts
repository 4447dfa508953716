import type { SharedPolicy } from './types.js';

/**
 * Every worker accepts on one listening socket that the primary bound and shared; the operating
 * system decides which worker wakes up. No per-connection IPC, so it is the cheapest mode, but on
 * Linux the spread is uneven (busy workers keep winning `accept`): `node:cluster`'s `SCHED_NONE`.
 */
export function sharedHandle(): SharedPolicy {
  return { mode: 'shared', name: 'shared' };
}
