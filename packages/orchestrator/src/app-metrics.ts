import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';
import type { WorkerInfo } from './events.js';
import type { WorkerProcess } from './worker-process.js';

/** Options of `primary.workerMetrics()`. */
export interface WorkerMetricsOptions {
  /** How long to wait for each worker's answer, in ms (1..60000). @default 1000 */
  readonly timeout?: number;
}

/** One worker's answer to `primary.workerMetrics()`. */
export interface WorkerMetrics {
  /** The worker, as it was when asked. */
  readonly worker: WorkerInfo;
  /**
   * `'ok'`: `metrics` holds the app's metrics; `'none'`: the app exposes no registry; `'timeout'`:
   * no answer within the timeout (a busy or stuck event loop); `'error'`: the app's registry threw
   * (`error` says what); `'exited'`: the worker exited before it answered.
   */
  readonly status: 'ok' | 'none' | 'timeout' | 'error' | 'exited';
  /** With `'ok'`: what the app's registry listed (prom-client's `getMetricsAsJSON()` shape), parsed. */
  readonly metrics?: unknown;
  /** With `'error'`: why. */
  readonly error?: string;
}

const DEFAULT_TIMEOUT_MS = 1000;

/** Asks each worker for its app's metrics (`metrics-request`, answered by `metrics`), each bounded by the timeout. */
export function collectWorkerMetrics(workers: readonly WorkerProcess[], info: (w: WorkerProcess) => WorkerInfo, options: WorkerMetricsOptions): Promise<WorkerMetrics[]> {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60_000) {
    return Promise.reject(new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, `workerMetrics(): timeout must be an integer of ms in 1..60000, got ${String(timeout)}`));
  }
  return Promise.all(workers.map((w) => ask(w, info(w), timeout)));
}

async function ask(worker: WorkerProcess, snapshot: WorkerInfo, timeout: number): Promise<WorkerMetrics> {
  const result = await worker.request('metrics-request', timeout);
  if (result.status !== 'answered') return { worker: snapshot, status: result.status };
  const m = result.answer;
  if (m.error !== undefined) return { worker: snapshot, status: 'error', error: m.error };
  if (m.data === undefined) return { worker: snapshot, status: 'none' };
  try {
    return { worker: snapshot, status: 'ok', metrics: JSON.parse(m.data) as unknown };
  } catch {
    return { worker: snapshot, status: 'error', error: 'the worker sent metrics that are not JSON' };
  }
}
