import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadResult, LoadSpec } from './load.js';
import { cpuMicros, heldConnections, processState, processTree, rssBytes } from './proc.js';
import { startServer, type RunningServer, type ServerSpec } from './servers.js';
import { coefficientOfVariation, shares } from './stats.js';
import { hangTimeoutMs, reloadTimes, windowSeconds, type CrashPlan, type PausePlan, type ReloadPlan, type Workload } from './workloads.js';

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
  /** CPU of the primary (the top process; behind a proxy, every process but the backends) per request, µs; 0 for a single process. */
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
  /** The crash workload: what happened to the worker it stopped and killed. */
  readonly crash?: CrashResult;
  /** The reload workload: the reloads, and what the clients saw. */
  readonly reload?: ReloadResult;
}

/** What the reload workload saw, counted by the load generator (the moves by a handoff primary). */
export interface ReloadResult {
  /** Rolling reloads asked for (SIGHUP) inside the window. */
  readonly asked: number;
  /** Of those, finished by the time the window closed (a reload asked during one runs after it). */
  readonly done: number;
  /** Failed requests (reset, closed unanswered, timed out, not 2xx), keep-alive and churn together. */
  readonly failed: number;
  /** Milliseconds the finished reloads took, together (from the start of each to its end). */
  readonly ms: number;
  /** Connections the keep-alive clients had to open again, beyond their initial ones. */
  readonly reconnects: number;
  /** Connections a handoff primary moved in the window; undefined for the others. */
  readonly moved: number | undefined;
  /** Failed requests by why, keep-alive clients' and churn clients' apart. */
  readonly keepAliveFailed: Readonly<Record<string, number>>;
  readonly churnFailed: Readonly<Record<string, number>>;
}

/** What the crash workload saw: one worker SIGSTOPped, then SIGKILLed, under churn. */
export interface CrashResult {
  readonly victim: number;
  /** Connections the worker held (had taken and not closed) once it was stopped: the most that may fail. */
  readonly held: number;
  /** Requests that ended without a 200: reset, closed unanswered, or a 503. */
  readonly failed: number;
  /** Requests unanswered after {@link hangTimeoutMs}, given up on by the client. */
  readonly hung: number;
  /** Connections the handoff primary gave back from the stopped worker and placed again (0 for the others: not reported). */
  readonly returned: number;
  /** `returned` by the primary's reason (`worker-exit`: its link closed; `not-received`: Node's NACK). */
  readonly returnedBy: Readonly<Record<string, number>>;
  /** Who ended it: the bench's SIGKILL, or it was gone already (the primary's heartbeat). */
  readonly killedBy: 'bench' | 'gone';
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A crash in progress: stops `victim` at `plan.stopAt` of the window, kills it at `plan.killAt`. */
class Crash {
  held = 0;
  killedBy: 'bench' | 'gone' = 'gone';
  /** The victim's CPU once stopped (it uses none after), for the window's total. */
  cpuAtStop: number | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped: Promise<void> = Promise.resolve();

  constructor(
    readonly victim: number,
    private readonly port: number,
    plan: CrashPlan,
    seconds: number,
  ) {
    this.timers.push(setTimeout(() => (this.stopped = this.stop()), plan.stopAt * seconds * 1000));
    this.timers.push(setTimeout(() => void this.kill(), plan.killAt * seconds * 1000));
  }

  private async stop(): Promise<void> {
    try {
      process.kill(this.victim, 'SIGSTOP');
    } catch {
      return;
    }
    // Counted once the kernel says it is stopped: from then on its fd table cannot change.
    for (let i = 0; i < 200 && processState(this.victim) !== 'T'; i++) await sleep(5);
    this.held = heldConnections(this.victim, this.port);
    this.cpuAtStop = cpuMicros(this.victim);
  }

  private async kill(): Promise<void> {
    await this.stopped;
    const state = processState(this.victim);
    if (state === undefined || state === 'Z') return;
    try {
      process.kill(this.victim, 'SIGKILL');
      this.killedBy = 'bench';
    } catch {
      // Gone between the two.
    }
  }

  result(running: RunningServer, load: LoadResult): CrashResult {
    const returnedBy = running.redispatched(this.victim);
    const returned = Object.values(returnedBy).reduce((a, b) => a + b, 0);
    return { victim: this.victim, held: this.held, failed: load.errors + load.non2xx, hung: load.timeouts ?? 0, returned, returnedBy, killedBy: this.killedBy };
  }

  cancel(): void {
    for (const t of this.timers) clearTimeout(t);
  }
}

/** Rolling reloads in progress: a SIGHUP to the server's top process at each of the plan's times. */
class Reloads {
  asked = 0;
  private readonly timers: NodeJS.Timeout[];
  private readonly start: ReturnType<RunningServer['reloads']>;

  constructor(
    private readonly running: RunningServer,
    plan: ReloadPlan,
    seconds: number,
  ) {
    this.start = running.reloads();
    this.timers = reloadTimes(seconds, plan).map((t) =>
      setTimeout(() => {
        try {
          process.kill(running.pid, 'SIGHUP');
          this.asked++;
        } catch {
          // The server is gone: the cell fails on its own.
        }
      }, t * 1000),
    );
  }

  /** What the server had done by the end of the window (taken in the load generator's `after`). */
  private end: ReturnType<RunningServer['reloads']> | undefined;

  /** Stops asking, and notes what the server had finished. */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.end ??= this.running.reloads();
  }

  result(load: LoadResult): ReloadResult {
    const now = this.end ?? this.running.reloads();
    const clients = load.clients;
    return {
      asked: this.asked,
      done: now.done - this.start.done,
      ms: now.ms - this.start.ms,
      failed: load.errors + load.non2xx + (load.timeouts ?? 0),
      reconnects: clients?.reconnects ?? 0,
      moved: now.moved === undefined ? undefined : now.moved - (this.start.moved ?? 0),
      keepAliveFailed: clients?.keepAliveFailed ?? {},
      churnFailed: clients?.churnFailed ?? {},
    };
  }

  cancel(): void {
    for (const t of this.timers) clearTimeout(t);
  }
}

/** The slow-worker and throttled-worker workloads: pause `victim` for `plan.pauseMs` of every `plan.everyMs` until stopped. */
class Pauses {
  private readonly timer: NodeJS.Timeout;
  private resume: NodeJS.Timeout | undefined;

  constructor(
    private readonly victim: number,
    private readonly plan: PausePlan,
  ) {
    this.timer = setInterval(() => this.pause(), plan.everyMs);
  }

  private pause(): void {
    try {
      process.kill(this.victim, 'SIGSTOP');
    } catch {
      return;
    }
    this.resume = setTimeout(() => this.cont(), this.plan.pauseMs);
  }

  private cont(): void {
    try {
      process.kill(this.victim, 'SIGCONT');
    } catch {
      // Gone: nothing to resume.
    }
  }

  /** No more pauses; the victim runs again. */
  stop(): void {
    clearInterval(this.timer);
    if (this.resume !== undefined) clearTimeout(this.resume);
    this.cont();
  }
}

/**
 * Starts the server, warms it up, measures one load (crashing a worker inside it, for `crash`;
 * reloading it, for `reload`), stops it.
 */
export async function runCell(server: ServerSpec, workload: Workload, round: number, workers: number, options: CellOptions): Promise<CellResult> {
  if (workload.crash !== undefined && server.kind === 'single') throw new Error(`${workload.name}: ${server.name} has no worker to stop`);
  if (workload.reload !== undefined && server.kind === 'single') throw new Error(`${workload.name}: ${server.name} has no worker to replace`);
  if (workload.pauses !== undefined && server.kind === 'single') throw new Error(`${workload.name}: ${server.name} has no worker to pause`);
  const seconds = windowSeconds(workload, options.seconds);
  const running = await startServer(server, workers, options.node, options.pin ? 1 : undefined, options.execArgv ?? []);
  let crash: Crash | undefined;
  let reloads: Reloads | undefined;
  let reloadResult: ReloadResult | undefined;
  let pauses: Pauses | undefined;
  try {
    const plan = workload.crash;
    const base = { port: running.port, loader: options.loader, ...workload.load, ...(plan === undefined ? {} : { timeoutMs: hangTimeoutMs(options.seconds, plan) }) };
    let tree: number[] = [];
    let before: number[] = [];
    let used: number[] = [];
    let rss: number[] = [];
    let backends: ReadonlyMap<number, number> | undefined;
    const load = await runLoader(
      { ...base, seconds, warmupSeconds: options.warmupSeconds },
      options.pin,
      () => {
        tree = processTree(running.pid);
        before = tree.map(cpuMicros);
        backends = running.backends();
        // The victim: the first worker (the top process's first child; a proxy's first backend).
        const victim = backends === undefined ? tree[1] : [...backends.keys()][0];
        // A backend holds its connections on its own port, a worker on the server's.
        if (plan !== undefined && victim !== undefined) crash = new Crash(victim, backends?.get(victim) ?? running.port, plan, options.seconds);
        if (workload.reload !== undefined) reloads = new Reloads(running, workload.reload, seconds);
        // The victim: the first worker, as the crash workload's.
        if (workload.pauses !== undefined && victim !== undefined) pauses = new Pauses(victim, workload.pauses);
      },
      () => {
        reloads?.stop();
        pauses?.stop();
        used = tree.map((pid, i) => (pid === crash?.victim && crash.cpuAtStop !== undefined ? crash.cpuAtStop : cpuMicros(pid)) - before[i]!);
        rss = tree.map(rssBytes);
      },
    );
    reloadResult = reloads?.result(load);
    // After a reload the workers are not the ones the window started with: their CPU and RSS are
    // of the processes that ended it (the figures that matter here are the clients').
    const requests = Math.max(1, load.requests);
    const single = server.kind === 'single';
    // The workers: every process but the top one (a single process is its own worker); behind a
    // proxy, the backends, and the rest of the tree (the proxy, its workers, the idle runner above
    // them, standing in for the process manager ops would use) is the primary's column.
    const isWorker = (pid: number, i: number): boolean => (single ? true : backends !== undefined ? backends.has(pid) : i > 0);
    const workerUse = used.filter((_, i) => isWorker(tree[i]!, i));
    const workerRss = rss.filter((_, i) => isWorker(tree[i]!, i));
    const primaryUse = used.filter((_, i) => !isWorker(tree[i]!, i)).reduce((a, b) => a + b, 0);
    // The proxy's memory, all its processes together; the runner's is left out (it is the bench's).
    const primaryRss = backends !== undefined ? rss.filter((_, i) => i > 0 && !isWorker(tree[i]!, i)).reduce((a, b) => a + b, 0) : (rss[0] ?? 0);
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
      primaryCpuPerRequest: single ? 0 : primaryUse / requests,
      workersCpuPerRequest: workerUse.reduce((a, b) => a + b, 0) / requests,
      requestShares: shares(load.byPid, single ? 1 : workers),
      connectionShares: Object.keys(load.connectionsByPid).length === 0 ? [] : shares(load.connectionsByPid, single ? 1 : workers),
      cv: coefficientOfVariation(counts),
      primaryRss: single ? 0 : primaryRss,
      workerRss: workerRss.length === 0 ? 0 : workerRss.reduce((a, b) => a + b, 0) / workerRss.length,
      ...(crash === undefined ? {} : { crash: crash.result(running, load) }),
      ...(reloadResult === undefined ? {} : { reload: reloadResult }),
    };
  } finally {
    crash?.cancel();
    reloads?.cancel();
    pauses?.stop();
    await running.stop();
  }
}
