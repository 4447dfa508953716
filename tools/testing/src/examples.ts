import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { createPrimary, type Primary, type PrimaryOptions } from '@handoff/orchestrator';

/** What an example's test gets from {@link useExample}. */
export interface ExampleHarness {
  /** Every pid a test started (workers, the example's own primary): SIGKILLed after each test. */
  readonly pids: Set<number>;
  /** Run after each test, last first, before the pids are killed. */
  readonly cleanups: Array<() => unknown>;
  /** Starts a real primary with 2 workers of the example's `worker.mjs` on 127.0.0.1, port 0. */
  startPrimary(options?: Partial<PrimaryOptions> & { listen?: object }): Promise<{ primary: Primary; port: number }>;
  /** Runs `node primary.mjs` with PORT=0 (and `env`) as the example's README does; resolves with the port it prints. */
  startExamplePrimary(env?: Record<string, string>): Promise<{ child: ChildProcess; port: number }>;
  /** Calls `pidOnce()` (one exchange on a fresh connection) until two different pids answered, at most 20 times. */
  pidsServing(pidOnce: () => Promise<number>): Promise<Set<number>>;
  /** The pids of the primary's workers, sorted. */
  workerPids(primary: Primary): number[];
  sorted(set: Iterable<number>): number[];
  /** One HTTP request on a fresh connection (no keep-alive), so each one is handed to a worker anew. */
  request(port: number, path: string, options?: { method?: string; body?: unknown }): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; json: any }>;
}

/**
 * The harness every example's test shares: start the example under a real primary (or as its
 * README runs it), find which workers answered, and clean every process up after each test.
 * `exampleDir` is the example's folder (`new URL('..', import.meta.url)` from its test).
 */
export function useExample(exampleDir: URL): ExampleHarness {
  const workerUrl = new URL('worker.mjs', exampleDir);
  const primaryPath = fileURLToPath(new URL('primary.mjs', exampleDir));
  const pids = new Set<number>();
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    pids.clear();
  });
  const waitAtMost = (promise: Promise<unknown>, ms: number): Promise<unknown> => Promise.race([promise, new Promise((r) => setTimeout(r, ms))]);
  return {
    pids,
    cleanups,
    async startPrimary(options = {}) {
      const { listen, ...rest } = options;
      const primary = createPrimary({
        worker: workerUrl,
        workers: 2,
        listen: { port: 0, host: '127.0.0.1', ...listen },
        readyTimeout: 15_000,
        drainTimeout: 3000,
        handleSignals: false,
        ...rest,
      } as PrimaryOptions);
      primary.on('worker:spawn', (w) => pids.add(w.pid));
      cleanups.push(() => waitAtMost(primary.close({ timeout: 2000 }), 8000));
      await primary.start();
      return { primary, port: (primary.addresses()[0] as { port: number }).port };
    },
    async startExamplePrimary(env = {}) {
      const child = spawn(process.execPath, [primaryPath], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
      pids.add(child.pid!);
      const exited = new Promise((r) => child.once('exit', r));
      cleanups.push(async () => {
        child.kill('SIGTERM');
        await waitAtMost(exited, 8000);
      });
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child.stdout!.setEncoding('utf8');
        child.stdout!.on('data', (chunk: string) => {
          out += chunk;
          const match = /listening on [a-z]+:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (match) resolve(Number(match[1]));
        });
        child.once('exit', (code) => reject(new Error(`primary.mjs exited with ${code} before listening: ${out}`)));
      });
      return { child, port };
    },
    async pidsServing(pidOnce) {
      const seen = new Set<number>();
      for (let i = 0; i < 20 && seen.size < 2; i++) seen.add(await pidOnce());
      for (const pid of seen) pids.add(pid);
      return seen;
    },
    workerPids: (primary) => primary.workers().map((w) => w.pid).sort((a, b) => a - b),
    sorted: (set) => [...set].sort((a, b) => a - b),
    request(port, path, { method = 'GET', body } = {}) {
      return new Promise((resolve, reject) => {
        const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
        const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: res.headers['content-type']?.includes('json') ? JSON.parse(text) : undefined }));
        });
        req.on('error', reject);
        req.end(body === undefined ? undefined : JSON.stringify(body));
      });
    },
  };
}
