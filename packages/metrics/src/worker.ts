// `@handoff/metrics/worker`: imported by app code in a worker. It must not import prom-client (the
// app's own copy is the one to read) nor anything of the primary's.

/** The key the worker runtime of `@handoff/worker` looks under for the app's registry. */
const METRICS_SOURCE = Symbol.for('handoff.metrics.source');

/** What a registry must have to be exposed: prom-client's `Registry` has it. */
export interface MetricsRegistry {
  getMetricsAsJSON(): unknown;
}

/**
 * Exposes the app's prom-client registry to the primary's `/metrics`: each scrape asks every worker
 * for it and merges the answers. Without this call, a worker whose app has loaded prom-client
 * exposes prom-client's default `register`. Returns a function that withdraws it.
 *
 * @example
 * ```js
 * import { Registry, Counter } from 'prom-client';
 * import { exposeMetrics } from '@handoff/metrics/worker';
 *
 * const registry = new Registry();
 * const hits = new Counter({ name: 'app_hits_total', help: 'Hits.', registers: [registry] });
 * exposeMetrics(registry);
 * ```
 */
export function exposeMetrics(registry: MetricsRegistry): () => void {
  if (typeof registry !== 'object' || registry === null || typeof registry.getMetricsAsJSON !== 'function') {
    throw new TypeError('exposeMetrics() needs a prom-client Registry (an object with getMetricsAsJSON())');
  }
  const slot = globalThis as Record<symbol, unknown>;
  slot[METRICS_SOURCE] = registry;
  return () => {
    if (slot[METRICS_SOURCE] === registry) delete slot[METRICS_SOURCE];
  };
}
