import { checkOptionNames, invalidOption } from './errors.js';
import type { SharedPolicy } from './types.js';

/** Options of {@link balancedShared}. */
export interface BalancedSharedOptions {
  /** How far above the fair share of open connections a worker may go, as a fraction (default 0.05). */
  readonly tolerance?: number;
  /** Connections a worker may hold above its share besides the tolerance (default 0). */
  readonly slack?: number;
  /**
   * Work conservation, off by default (0; at most 1000): how long, in ms, every worker that accepts
   * must have been busy (its event loop leaving the primary's probe unanswered) before a worker at
   * its share may accept again, over its limit, until one of them answers. Off, a worker at its share
   * waits however busy the others are: the strictest spread; 20 keeps connections from waiting out a
   * long request (a blocked loop). It matters for long-lived connections only: short-lived ones (churn,
   * CPU-heavy or not) are not steered, so no worker waits for them. On, a burst
   * of new connections on a machine whose CPU is saturated may spread past the tolerance (every
   * worker answers late then, and looks busy): 36-38 of 64 on one of 2 workers.
   */
  readonly busyAfter?: number;
}

const OPTIONS = ['tolerance', 'slack', 'busyAfter'];

/**
 * Every worker accepts on the shared listening socket, as with `sharedHandle()`, so no connection
 * costs an IPC message; but the primary keeps the spread fair: a worker that reaches the fair share
 * of open connections (plus `tolerance`) closes its copy of the socket, so the kernel wakes only the
 * others, and is re-armed as soon as it is below it again. With `busyAfter` it is work-conserving:
 * while a worker is paused the primary probes the ones that accept, and when all of them have been
 * busy for `busyAfter` ms (running a CPU-heavy request, not accepting), the paused worker accepts
 * again until one of them answers; so connections do not wait while a worker could take them. Choose it for
 * long-lived connections (keep-alive, WebSockets) where `sharedHandle()` piles them on one worker,
 * when you want no per-connection dispatch cost. It balances open connections, not requests or CPU:
 * a worker with few but busy connections is not relieved (use `leastConnections()` or
 * `powerOfTwoChoices()`). It steers long-lived connections only: while the connections' mean lifetime,
 * measured by the primary from the closes the workers report, is under 100 ms (churn: a connection
 * per request), every worker accepts with no limit and the kernel spreads them, as with
 * `sharedHandle()` and at its cost; a pause would outlast them and only send every new one elsewhere.
 */
export function balancedShared(options: BalancedSharedOptions = {}): SharedPolicy {
  checkOptionNames('balancedShared', options, OPTIONS);
  const tolerance = options.tolerance ?? 0.05;
  const slack = options.slack ?? 0;
  const busyAfter = options.busyAfter ?? 0;
  if (!(Number.isFinite(tolerance) && tolerance > 0 && tolerance <= 10)) throw invalidOption('balancedShared', 'tolerance', 'a number in (0, 10]', tolerance);
  if (!(Number.isInteger(slack) && slack >= 0)) throw invalidOption('balancedShared', 'slack', 'an integer >= 0', slack);
  if (!(Number.isInteger(busyAfter) && busyAfter >= 0 && busyAfter <= 1000)) throw invalidOption('balancedShared', 'busyAfter', 'an integer number of ms in [0, 1000]', busyAfter);
  return { mode: 'shared', name: 'balanced-shared', balance: { tolerance, slack, busyAfter } };
}
