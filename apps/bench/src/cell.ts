import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load.js';
import { cpuMicros, processTree, rssBytes } from './proc.js';
import { startServer, type ServerSpec } from './servers.js';
import { coefficientOfVariation, shares } from './stats.js';
import type { Workload } from './workloads.js';

/** How one cell is run. */
export interface CellOptions {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly node: string;
  readonly pin: boolean;
  readonly loader: 'autocannon' | 'wrk';
  /** Node flags for every server process (e.g. `--cpu-prof`). */
  readonly execArgv?: readonly string[];
}

/** What one server did under one workload in one round. */
export interface CellResult {
  readonly server: string;
  readonly workload: string;
  readonly round: number;
  readonly workers: number;
  readonly pinned: boolean;
  readonly loader: string;
  readonly rps: number;
  /** Requests answered 200 in the measured window. */
  readonly requests: number;
  readonly p50: number;
  readonly p99: number;
  readonly errors: number;
  /** CPU of the primary (the top process) per request, µs; 0 for a single process. */
  readonly primaryCpuPerRequest: number;
  /** CPU of every worker together per request, µs (the single process for `single`). */
  readonly workersCpuPerRequest: number;
  /** Each worker's share of requests, largest first. */
  readonly requestShares: number[];
  /** Each worker's share of keep-alive connections, largest first (empty for churn). */
  readonly connectionShares: number[];
  /** Coefficient of variation of the requests per worker. */
  readonly cv: number;
  readonly primaryRss: number;
  /** Mean RSS of a worker, bytes. */
  readonly workerRss: number;
}

const LOADER = fileURLToPath(new URL('./loader-entry.js', import.meta.url));

/**
 * Runs the load generator in its own process (pinned to CPU 0 when `pin`). It opens the idle
 * connections and warms up, then `before()` runs (CPU counters are read there), then the measured
 * load, then `after()` runs while the idle connections are still open (CPU and RSS are read there),
 * and only then does the load generator close them and exit.
 */
function runLoader(spec: LoadSpec & { warmupSeconds: number }, pin: boolean, before: () => void, after: () => void): Promise<LoadResult> {
  const args = [LOADER, JSON.stringify(spec)];
  const stdio: ['pipe', 'pipe', 'inherit'] = ['pipe', 'pipe', 'inherit'];
  const child = pin ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio }) : spawn(process.execPath, args, { stdio });
  return new Promise((resolve, reject) => {
    let out = '';
    let phase: 'warming' | 'measuring' | 'done' = 'warming';
    let result: LoadResult | undefined;
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (phase === 'warming' && line === 'WARM') {
          phase = 'measuring';
          before();
          child.stdin.write('go\n');
        } else if (phase === 'measuring') {
          phase = 'done';
          try {
            result = JSON.parse(line) as LoadResult;
          } catch {
            // Reported at exit.
          }
          after();
          child.stdin.end('done\n');
        }
      }
    });
    child.stdin.on('error', () => {});
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`load generator exited with code ${code} and no result`));
    });
  });
}

/** Starts the server, warms it up, measures one load, stops it. */
export async function runCell(server: ServerSpec, workload: Workload, round: number, workers: number, options: CellOptions): Promise<CellResult> {
  const running = await startServer(server, workers, options.node, options.pin ? 1 : undefined, options.execArgv ?? []);
  try {
    const base = { port: running.port, loader: options.loader, ...workload.load };
    let tree: number[] = [];
    let before: number[] = [];
    let used: number[] = [];
    let rss: number[] = [];
    const load = await runLoader(
      { ...base, seconds: options.seconds, warmupSeconds: options.warmupSeconds },
      options.pin,
      () => {
        tree = processTree(running.pid);
        before = tree.map(cpuMicros);
      },
      () => {
        used = tree.map((pid, i) => cpuMicros(pid) - before[i]!);
        rss = tree.map(rssBytes);
      },
    );
    const requests = Math.max(1, load.requests);
    const single = server.kind === 'single';
    const workerUse = single ? used : used.slice(1);
    const workerRss = single ? rss : rss.slice(1);
    const counts = Object.values(load.byPid);
    while (counts.length < (single ? 1 : workers)) counts.push(0);
    return {
      server: server.name,
      workload: workload.name,
      round,
      workers: single ? 1 : workers,
      pinned: options.pin,
      loader: load.loader,
      rps: load.requests / load.seconds,
      requests: load.requests,
      p50: load.p50,
      p99: load.p99,
      errors: load.errors + load.non2xx,
      primaryCpuPerRequest: single ? 0 : used[0]! / requests,
      workersCpuPerRequest: workerUse.reduce((a, b) => a + b, 0) / requests,
      requestShares: shares(load.byPid, single ? 1 : workers),
      connectionShares: Object.keys(load.connectionsByPid).length === 0 ? [] : shares(load.connectionsByPid, single ? 1 : workers),
      cv: coefficientOfVariation(counts),
      primaryRss: single ? 0 : rss[0]!,
      workerRss: workerRss.length === 0 ? 0 : workerRss.reduce((a, b) => a + b, 0) / workerRss.length,
    };
  } finally {
    await running.stop();
  }
}
