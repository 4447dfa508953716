import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { createPrimary, type Primary, type PrimaryOptions } from '@handoff/orchestrator';
import { serveMetrics, type MetricsServer, type ServeMetricsOptions } from '@handoff/metrics';

/** The test app (see fixtures/app.mjs). */
export const app = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));

/** A parsed family, as parse-prometheus-text-format gives it (prom2json's shape). */
export interface Family {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: Array<{ value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }>;
}

/** Parses a scrape with a real Prometheus text-format parser: name → family. */
export function parse(text: string): Map<string, Family> {
  const families = parsePrometheusTextFormat(text) as Family[];
  return new Map(families.map((f) => [f.name, f]));
}

/** The value of the sample of `name` whose labels include `labels`; undefined when none. */
export function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(name);
  const m = f?.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  return m?.value === undefined ? undefined : Number(m.value);
}

/** Sum of every sample of `name`. */
export function total(families: Map<string, Family>, name: string): number {
  return (families.get(name)?.metrics ?? []).reduce((s, m) => s + Number(m.value ?? 0), 0);
}

/** One HTTP request; resolves with status, headers and body. */
export function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A started primary on a free loopback port with its metrics endpoint; dispose closes both. */
export async function startWithMetrics(
  options: Partial<PrimaryOptions> = {},
  metrics: Partial<ServeMetricsOptions> = {},
  env: Record<string, string> = {},
): Promise<{ primary: Primary; metrics: MetricsServer; appPort: number; metricsPort: number; scrape(): Promise<Map<string, Family>>; [Symbol.asyncDispose](): Promise<void> }> {
  const primary = createPrimary({ worker: app, workers: 2, listen: { port: 0, host: '127.0.0.1' }, handleSignals: false, env: { HANDOFF_TEST_PROM: 'expose', ...env }, ...options } as PrimaryOptions);
  const server = await serveMetrics(primary, { port: 0, host: '127.0.0.1', ...metrics });
  try {
    await primary.start();
  } catch (error) {
    await server.close();
    await primary.close({ timeout: 0 });
    throw error;
  }
  const address = primary.addresses()[0] as { port: number };
  const metricsPort = server.address().port;
  return {
    primary,
    metrics: server,
    appPort: address.port,
    metricsPort,
    scrape: async () => {
      const res = await get(metricsPort, '/metrics');
      if (res.status !== 200) throw new Error(`scrape answered ${res.status}: ${res.body}`);
      return parse(res.body);
    },
    [Symbol.asyncDispose]: async () => {
      await primary.close({ timeout: 1000 });
      await server.close();
    },
  };
}

/** `n` requests to `path`, `concurrency` at a time, each on its own connection. */
export async function load(port: number, n: number, path = '/', concurrency = 8): Promise<number> {
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        const res = await get(port, path, { connection: 'close' });
        if (res.status === 200) ok++;
      }
    }),
  );
  return ok;
}
