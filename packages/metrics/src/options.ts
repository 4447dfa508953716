import { HandoffMetricsError, MetricsErrorCode } from './errors.js';

/** How the app's own metrics are gathered from the workers. */
export interface AppMetricsOptions {
  /** How long a scrape waits for each worker's answer, in ms; a worker that takes longer is reported missing. @default 1000 */
  readonly timeout?: number;
  /**
   * `false`: one series per metric and label set, merged across workers by each metric's
   * `aggregator` (prom-client's: `sum` by default, `first`, `min`, `max`, `average`, `omit`).
   * `true`: every worker's series as they are, with a `worker` label (the worker's slot).
   * @default false
   */
  readonly perWorker?: boolean;
}

/** Options of `serveMetrics()`. */
export interface ServeMetricsOptions {
  /** The port of the metrics endpoint (0: a free one; see `address()`). Never one of the app's. */
  readonly port: number;
  /** The address to bind. @default every interface, as Node binds `listen(port)` */
  readonly host?: string;
  /** `/readyz` answers 200 while the primary is running or reloading with at least this many ready workers. @default 1 */
  readonly minReady?: number;
  /** The app's own prom-client metrics from every worker; `false` leaves them out (no worker is asked). @default {} */
  readonly appMetrics?: AppMetricsOptions | false;
  /** Close the endpoint once the primary has stopped. @default true */
  readonly closeWithPrimary?: boolean;
  /**
   * The upgrades of the primary itself (`handoff upgrade`), read at each scrape: whoever starts a
   * new primary counts them and hands the counts on to it, so that `handoff_upgrades_total` runs on
   * across primaries. Left out: the first primary of its line, no upgrade yet.
   */
  readonly upgrades?: () => UpgradeCounts;
}

/** What `upgrades` returns: where this primary stands in its line of upgrades. */
export interface UpgradeCounts {
  /** Which primary of its line this is: 1 for the first, one more at each upgrade. */
  readonly generation: number;
  /** Upgrades that went through (a new primary took over), by every primary of the line. */
  readonly success: number;
  /** Upgrades whose new primary failed (and was stopped; the old one served on). */
  readonly failure: number;
  /** Upgrades refused before any new primary started (one ran already; PID 1 of a container). */
  readonly refused: number;
}

/** {@link ServeMetricsOptions} with every default filled in. */
export interface ResolvedMetricsOptions {
  readonly port: number;
  readonly host: string | undefined;
  readonly minReady: number;
  readonly appMetrics: { readonly timeout: number; readonly perWorker: boolean } | false;
  readonly closeWithPrimary: boolean;
  readonly upgrades: () => UpgradeCounts;
}

const KNOWN = ['port', 'host', 'minReady', 'appMetrics', 'closeWithPrimary', 'upgrades'];

const FIRST: UpgradeCounts = Object.freeze({ generation: 1, success: 0, failure: 0, refused: 0 });
const KNOWN_APP = ['timeout', 'perWorker'];

function invalid(message: string): never {
  throw new HandoffMetricsError(MetricsErrorCode.INVALID_OPTION, message);
}

function checkKeys(value: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) invalid(`unknown option ${where}${key}; known: ${known.map((k) => where + k).join(', ')}`);
  }
}

const isInt = (x: unknown, min: number, max: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;

/** Validates `serveMetrics()`'s options once, at the boundary; a mistake throws naming the option. */
export function resolveMetricsOptions(options: ServeMetricsOptions): ResolvedMetricsOptions {
  if (typeof options !== 'object' || options === null) invalid('serveMetrics() needs options { port, host? }');
  checkKeys(options, KNOWN, '');
  if (!isInt(options.port, 0, 65535)) invalid(`port must be an integer in 0..65535, got ${String(options.port)}`);
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) invalid('host must be a non-empty string');
  const minReady = options.minReady ?? 1;
  if (!isInt(minReady, 0, 1_000_000)) invalid(`minReady must be an integer >= 0, got ${String(options.minReady)}`);
  const closeWithPrimary = options.closeWithPrimary ?? true;
  if (typeof closeWithPrimary !== 'boolean') invalid('closeWithPrimary must be a boolean');
  let appMetrics: ResolvedMetricsOptions['appMetrics'] = false;
  const app = options.appMetrics ?? {};
  if (app !== false) {
    if (typeof app !== 'object' || app === null) invalid('appMetrics must be an object { timeout?, perWorker? } or false');
    checkKeys(app, KNOWN_APP, 'appMetrics.');
    const timeout = app.timeout ?? 1000;
    if (!isInt(timeout, 1, 60_000)) invalid(`appMetrics.timeout must be an integer of ms in 1..60000, got ${String(app.timeout)}`);
    const perWorker = app.perWorker ?? false;
    if (typeof perWorker !== 'boolean') invalid('appMetrics.perWorker must be a boolean');
    appMetrics = { timeout, perWorker };
  }
  if (options.upgrades !== undefined && typeof options.upgrades !== 'function') invalid('upgrades must be a function returning { generation, success, failure, refused }');
  return { port: options.port, host: options.host, minReady, appMetrics, closeWithPrimary, upgrades: options.upgrades ?? (() => FIRST) };
}
