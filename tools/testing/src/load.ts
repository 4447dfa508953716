import { Pool } from 'undici';
import { get } from './http.js';

/** What a load run saw. */
export interface LoadResult {
  ok: number;
  non2xx: number;
  failed: number;
  readonly errors: string[];
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  readonly port: number;
  /** Concurrent clients. */
  readonly concurrency: number;
  /** Keep-alive clients reuse connections (undici Pool); otherwise one `Connection: close` connection per request. */
  readonly keepAlive: boolean;
  readonly path?: string;
  /** Stops sending once this signal aborts; requests in flight finish. */
  readonly signal: AbortSignal;
}

/**
 * Sends requests in closed loops until `signal` aborts, counting successes, non-2xx answers and
 * failures (network errors). For tests of "no failed request" promises.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result: LoadResult = { ok: 0, non2xx: 0, failed: 0, errors: [] };
  const pool = options.keepAlive ? new Pool(`http://127.0.0.1:${options.port}`, { connections: options.concurrency, pipelining: 1 }) : undefined;
  const record = (status: number): void => {
    if (status >= 200 && status < 300) result.ok++;
    else {
      result.non2xx++;
      if (result.errors.length < 20) result.errors.push(`status ${status}`);
    }
  };
  const fail = (error: unknown): void => {
    result.failed++;
    if (result.errors.length < 20) result.errors.push(String((error as Error)?.message ?? error));
  };
  const client = async (): Promise<void> => {
    while (!options.signal.aborted) {
      try {
        if (pool !== undefined) {
          const res = await pool.request({ path: options.path ?? '/', method: 'GET' });
          await res.body.text();
          record(res.statusCode);
        } else {
          record((await get(options.port, { close: true, path: options.path ?? '/' })).status);
        }
      } catch (error) {
        fail(error);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, client));
  await pool?.close();
  return result;
}
