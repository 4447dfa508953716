import { invalidOption } from './errors.js';
import type { SharedPolicy } from './types.js';

/** Options of {@link balancedShared}. */
export interface BalancedSharedOptions {
  /** How far above the fair share of open connections a worker may go, as a fraction (default 0.05). */
  readonly tolerance?: number;
  /** Connections a worker may hold above its share besides the tolerance (default 0). */
  readonly slack?: number;
}

/**
 * Every worker accepts on the shared listening socket, as with `sharedHandle()`, so no connection
 * costs an IPC message; but the primary keeps the spread fair: a worker that reaches the fair share
 * of open connections (plus `tolerance`) closes its copy of the socket, so the kernel wakes only the
 * others, and is re-armed as soon as it is below it again. Choose it for long-lived connections
 * (keep-alive, WebSockets) where `sharedHandle()` piles them on one worker, when you want no
 * per-connection dispatch cost. It balances open connections, not requests or CPU: a worker with
 * few but busy connections is not relieved (use `leastConnections()` or `powerOfTwoChoices()`), and
 * with CPU-heavy requests on short connections it costs throughput: a worker at its share pauses
 * while another is busy burning CPU, so for a moment nobody accepts (measured: 0.48x
 * `sharedHandle()`'s req/s when 10 % of requests burn 10 ms).
 */
export function balancedShared(options: BalancedSharedOptions = {}): SharedPolicy {
  const tolerance = options.tolerance ?? 0.05;
  const slack = options.slack ?? 0;
  if (!(Number.isFinite(tolerance) && tolerance > 0 && tolerance <= 10)) throw invalidOption('balancedShared', 'tolerance', 'a number in (0, 10]', tolerance);
  if (!(Number.isInteger(slack) && slack >= 0)) throw invalidOption('balancedShared', 'slack', 'an integer >= 0', slack);
  return { mode: 'shared', name: 'balanced-shared', balance: { tolerance, slack } };
}
