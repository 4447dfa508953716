import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** What {@link startLoadProcess}'s client saw. */
export interface LoadProcessResult {
  ok: number;
  non2xx: number;
  failed: number;
  /** Failures and non-2xx answers by why (`ECONNRESET`, `closed unanswered`, `status 503`…). */
  errors: Record<string, number>;
  /** Connections the keep-alive loops opened: one per loop when the server never closed one. */
  keepAliveConnections: number;
  /** Requests (each a connection) the churn loops sent. */
  churnRequests: number;
}

/** Options of {@link startLoadProcess}. */
export interface LoadProcessOptions {
  /** The port to load (ignored with `socketPath`). */
  readonly port: number;
  /** A Unix socket to load instead of a TCP port. */
  readonly socketPath?: string;
  readonly host?: string;
  /** Loops that each keep one connection and send requests on it one after another. */
  readonly keepAlive?: number;
  /** Loops that open a connection per request (`Connection: close`). */
  readonly churn?: number;
  readonly method?: 'GET' | 'POST';
  readonly path?: string;
}

/** A load client running in its own process. */
export interface LoadProcess {
  readonly pid: number;
  /** Stops sending, lets the requests in flight finish and resolves with what the client counted. */
  stop(): Promise<LoadProcessResult>;
}

const script = fileURLToPath(new URL('../load-client.mjs', import.meta.url));

/**
 * Starts closed-loop HTTP/1.1 load on raw sockets in a process of its own (`load-client.mjs`), so
 * that the server's behaviour is not the test runner's event loop's: a client sharing its loop with
 * the primary slows both and hides what a real client sees. Kill it by `pid` in a test's cleanup.
 */
export function startLoadProcess(options: LoadProcessOptions): LoadProcess {
  const child = spawn(process.execPath, [script, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid ?? -1,
    stop: async () => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      try {
        return JSON.parse(output) as LoadProcessResult;
      } catch {
        throw new Error(`the load client printed no result: ${JSON.stringify(output)}`);
      }
    },
  };
}
