import { roundRobin } from '@handoff/policies';

/** Freezes `value` and every object and array inside it (functions are left as they are: not ours). */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Every default of `createPrimary()`'s options, in one deep-frozen object: validation fills them in
 * from here, `handoff start --help` prints them from here, and a test checks the READMEs and the
 * options' JSDoc `@default`s against it. Keys are the options' own (`restart.maxDelay` is
 * `primaryDefaults.restart.maxDelay`), except:
 * - `policy`: the factory called for each primary that names none (each gets its own state);
 * - `maxRequestsJitterPercent`: `maxRequestsJitter` defaults to this share of `maxRequests`;
 * - `listener`: the defaults of each `listen` entry; `proxyProtocol`: those of a `proxyProtocol: true`
 *   (or an object that leaves a field out), for `listen` entries and `dropIn` alike.
 *
 * What depends on the machine is read at `start()`, not stored here: `workers: 'auto'` counts the
 * CPUs (`countCpus()`), `transport` left out reads `HANDOFF_TRANSPORT` first, `execArgv` left out is
 * the primary's own `process.execArgv`, `group` left out is the user's primary group.
 *
 * @example
 * ```js
 * import { primaryDefaults } from '@handoff/orchestrator';
 * console.log(`a stop drains for ${primaryDefaults.drainTimeout} ms`);
 * ```
 */
export const primaryDefaults = deepFreeze({
  workers: 'auto',
  policy: roundRobin,
  args: [],
  env: {},
  readyTimeout: 30_000,
  /**
   * With the primary's SIGKILL backstop one second later, a stop finishes in 9 s: inside Docker's
   * default stop grace (10 s), Kubernetes' (30 s) and systemd's (90 s).
   */
  drainTimeout: 8000,
  maxPending: 1024,
  queueTimeout: 5000,
  restart: { initialDelay: 100, maxDelay: 10_000, crashLoopCount: 5, crashLoopWindow: 10_000 },
  heartbeatInterval: 2000,
  heartbeatTimeout: 10_000,
  maxRequests: 0,
  maxRequestsJitterPercent: 10,
  maxMemory: 0,
  reloadConcurrency: 1,
  handleSignals: true,
  reloadOnSighup: false,
  moveOnDrain: true,
  output: 'inherit',
  transport: 'auto',
  dropIn: false,
  listener: { backlog: 511, protocol: 'http', ipv6Only: false, proxyProtocol: false },
  proxyProtocol: { timeout: 3000, maxHeaderBytes: 4096, maxPending: 1024 },
} as const);

/** The type of {@link primaryDefaults}. */
export type PrimaryDefaults = typeof primaryDefaults;
