import { createRequire } from 'node:module';
import { MAX_METRICS_CHARS } from '@handoff/protocol';

/**
 * Where an app's registry is registered for the primary's `/metrics` (`@handoff/metrics/worker`'s
 * `exposeMetrics(registry)` sets it). A `Symbol.for` key, not an import: the app's copy of
 * `@handoff/metrics` and the copy of this runtime that runs it (the CLI brings its own) need not be
 * the same install, and neither needs prom-client.
 */
export const METRICS_SOURCE = Symbol.for('handoff.metrics.source');

/** What a registry must have: prom-client's `Registry` does. */
interface MetricsSource {
  getMetricsAsJSON(): unknown;
}

/** The entry module of a prom-client install, as the CommonJS loader caches it. */
const PROM_CLIENT_ENTRY = /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/;

function isSource(x: unknown): x is MetricsSource {
  return typeof x === 'object' && x !== null && typeof (x as MetricsSource).getMetricsAsJSON === 'function';
}

/**
 * The app's registry: the one it exposed, else the default registry of a prom-client the app has
 * loaded already (an unmodified app that uses prom-client's global `register`). Never loads
 * prom-client: an app without it has nothing here and pays nothing.
 */
function findSource(): MetricsSource | undefined {
  const exposed = (globalThis as Record<symbol, unknown>)[METRICS_SOURCE];
  if (isSource(exposed)) return exposed;
  const cache = createRequire(import.meta.url).cache;
  for (const path of Object.keys(cache)) {
    if (!PROM_CLIENT_ENTRY.test(path)) continue;
    const register = (cache[path]?.exports as { register?: unknown } | undefined)?.register;
    if (isSource(register)) return register;
  }
  return undefined;
}

/** Answers a `metrics-request`: the app's metrics as JSON, or why not; `{}` when it exposes none. */
export async function collectAppMetrics(): Promise<{ data?: string; error?: string }> {
  const source = findSource();
  if (source === undefined) return {};
  try {
    const data = JSON.stringify(await source.getMetricsAsJSON());
    if (typeof data !== 'string') return { error: 'the registry listed no metrics array' };
    if (data.length > MAX_METRICS_CHARS) return { error: `the app's metrics are larger than ${MAX_METRICS_CHARS} characters as JSON` };
    return { data };
  } catch (error) {
    return { error: String(error instanceof Error ? error.message : error).slice(0, 1024) };
  }
}
