import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Primary, WorkerMetrics } from '@handoff/orchestrator';
import { AggregatorRegistry, Registry } from 'prom-client';
import { OWN_NAMES, ownMetrics } from './collect.js';
import { HandoffMetricsError, MetricsErrorCode } from './errors.js';
import { createMetricsHttpServer, type Answer } from './http.js';
import { appMetricSets, dropConflicts } from './merge.js';
import { resolveMetricsOptions, type ResolvedMetricsOptions, type ServeMetricsOptions } from './options.js';
import { Recorder } from './recorder.js';
import type { MetricJson } from './series.js';

/** A running metrics endpoint, as `serveMetrics()` returns it. */
export interface MetricsServer {
  /** Where it is bound, with the real port when 0 was asked for. */
  address(): AddressInfo;
  /** What `GET /metrics` answers now, in Prometheus text (or OpenMetrics with `openMetrics`). */
  scrape(options?: { readonly openMetrics?: boolean }): Promise<string>;
  /** Stops the endpoint and the counting; resolves once its server is closed. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const OPENMETRICS = /application\/openmetrics-text/i;

/**
 * Serves `GET /metrics` (Prometheus text, or OpenMetrics when the scraper asks for it), `GET
 * /healthz` and `GET /readyz` for `primary`, on their own address. Call it before
 * `primary.start()` so that every worker and event is counted; it rejects with
 * `HANDOFF_ERR_PORT_IN_USE` when the port is taken. It reads the primary only through its public
 * API (events, diagnostics channels, `workers()`, `stats()`, `workerMetrics()`), at scrape time.
 *
 * @example
 * ```js
 * const primary = createPrimary({ worker: './worker.js', listen: 3000 });
 * await serveMetrics(primary, { port: 9100 });
 * await primary.start(); // curl http://127.0.0.1:9100/metrics
 * ```
 */
export async function serveMetrics(primary: Primary, options: ServeMetricsOptions): Promise<MetricsServer> {
  if (typeof primary !== 'object' || primary === null || typeof (primary as Partial<Primary>).workers !== 'function' || typeof (primary as Partial<Primary>).workerMetrics !== 'function') {
    throw new HandoffMetricsError(MetricsErrorCode.INVALID_OPTION, 'serveMetrics() needs the primary that createPrimary() returned (from @handoff/orchestrator with workerMetrics()), as its first argument');
  }
  const resolved = resolveMetricsOptions(options);
  const recorder = new Recorder(primary);
  const scraper = new Scraper(primary, recorder, resolved);
  const server = createMetricsHttpServer({
    '/metrics': async (accept) => {
      const openMetrics = OPENMETRICS.test(accept);
      return { status: 200, type: openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE, body: await scraper.scrape(openMetrics) };
    },
    '/healthz': () => plain(200, 'ok\n'),
    '/readyz': () => readiness(primary, resolved.minReady),
  });
  try {
    server.listen({ port: resolved.port, host: resolved.host });
    await once(server, 'listening');
  } catch (error) {
    recorder.close();
    const e = error as NodeJS.ErrnoException;
    const where = `${resolved.host ?? '*'}:${resolved.port}`;
    if (e.code === 'EADDRINUSE') throw new HandoffMetricsError(MetricsErrorCode.PORT_IN_USE, `the metrics port ${where} is in use by another process; choose another port or stop that process`, { cause: error });
    throw new HandoffMetricsError(MetricsErrorCode.LISTEN_FAILED, `the metrics endpoint could not bind ${where}: ${e.message}`, { cause: error });
  }
  server.unref();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      recorder.close();
      primary.off('state', onState);
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  const onState = ({ to }: { readonly to: string }): void => {
    if (to === 'stopped' && resolved.closeWithPrimary) void close();
  };
  primary.on('state', onState);
  return {
    address: () => server.address() as AddressInfo,
    scrape: (o = {}) => scraper.scrape(o.openMetrics === true),
    close,
    [Symbol.asyncDispose]: close,
  };
}

function plain(status: number, body: string): Answer {
  return { status, type: 'text/plain; charset=utf-8', body };
}

/** 200 while running or reloading with at least `minReady` ready workers; 503 from the moment a drain starts. */
function readiness(primary: Primary, minReady: number): Answer {
  const state = primary.state;
  if (state !== 'running' && state !== 'reloading') return plain(503, `not ready: the primary is ${state}\n`);
  const ready = primary.workers().filter((w) => w.state === 'ready').length;
  if (ready < minReady) return plain(503, `not ready: ${ready} ready worker(s), ${minReady} needed\n`);
  return plain(200, `ready: ${ready} ready worker(s)\n`);
}

/**
 * OpenMetrics names a counter's family without `_total` and its sample with it. prom-client writes
 * the sample's suffix itself, but for an aggregated registry it takes the family's name as it came:
 * so the family is named without the suffix here, and `_total` is not written twice.
 */
function openMetricsNames(set: readonly MetricJson[]): MetricJson[] {
  return set.map((m) => (m.type === 'counter' && m.name.endsWith('_total') ? { ...m, name: m.name.slice(0, -'_total'.length) } : m));
}

/**
 * prom-client's own merge of metrics from several registries (`getMetricsAsJSON()` of each), by
 * each metric's `aggregator`, into a registry of the given content type (its typings omit the
 * second parameter, which it has had since v14).
 */
function aggregate(sets: readonly unknown[][], type: string): Registry {
  return (AggregatorRegistry.aggregate as unknown as (sets: readonly unknown[][], type: string) => Registry).call(AggregatorRegistry, sets, type);
}

/** Builds a scrape's text; scrapes that overlap share one collection per format. */
class Scraper {
  private readonly inFlight: [Promise<string> | undefined, Promise<string> | undefined] = [undefined, undefined];

  constructor(
    private readonly primary: Primary,
    private readonly recorder: Recorder,
    private readonly options: ResolvedMetricsOptions,
  ) {}

  scrape(openMetrics: boolean): Promise<string> {
    const i = openMetrics ? 1 : 0;
    const running = this.inFlight[i];
    if (running !== undefined) return running;
    const next = this.collect(openMetrics).finally(() => {
      this.inFlight[i] = undefined;
    });
    this.inFlight[i] = next;
    return next;
  }

  private async collect(openMetrics: boolean): Promise<string> {
    const app = this.options.appMetrics;
    const answers: readonly WorkerMetrics[] | undefined = app === false ? undefined : await this.primary.workerMetrics({ timeout: app.timeout });
    const own = await ownMetrics(this.primary, this.recorder, answers, this.options.upgrades());
    const apps = answers === undefined || app === false ? [] : dropConflicts(appMetricSets(answers, app.perWorker, OWN_NAMES));
    const type = openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE;
    const sets = openMetrics ? [own, ...apps].map(openMetricsNames) : [own, ...apps];
    let registry: Registry;
    try {
      registry = aggregate(sets, type);
    } catch {
      // An app metric prom-client cannot aggregate: serve handoff's own series rather than nothing.
      registry = aggregate(sets.slice(0, 1), type);
    }
    return registry.metrics();
  }
}
