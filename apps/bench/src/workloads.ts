import type { LoadSpec } from './load.js';

/** A kind of traffic the bench sends. */
export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly load: Omit<LoadSpec, 'port' | 'seconds' | 'loader'>;
  /** Workers for this workload, when it needs a fixed count (fairness: 8). */
  readonly workers?: number;
  /** A worker is SIGSTOPped, then SIGKILLed, inside the measured window (servers with workers only). */
  readonly crash?: CrashPlan;
  /** Rolling reloads inside the measured window (servers with workers only, unpinned). */
  readonly reload?: ReloadPlan;
  /** One worker is paused now and then through the measured window (servers with workers only, unpinned). */
  readonly pauses?: PausePlan;
}

/** A worker slow for a while: SIGSTOPped for `pauseMs` at the start of every `everyMs`, then SIGCONTed. */
export interface PausePlan {
  readonly pauseMs: number;
  readonly everyMs: number;
}

/** The slow-worker workload's plan: 200 ms of every second. */
export const PAUSES: PausePlan = { pauseMs: 200, everyMs: 1000 };

/**
 * The throttled-worker workload's plan: 9 ms of every 10 ms, a tenth of its speed (as a CPU quota
 * of 10 % would leave it). Stopped for less than a request's burn, it still takes what it is sent
 * within 9 ms, so a primary's count of unacknowledged connections (`inFlight`) hardly sees it:
 * slow, not stopped.
 */
export const THROTTLE: PausePlan = { pauseMs: 9, everyMs: 10 };

/** When the reload workload asks the server for a rolling reload, in seconds of the measured window. */
export interface ReloadPlan {
  /** The first reload, this far into the window. */
  readonly firstAt: number;
  readonly every: number;
  /** No reload starts later than this before the window ends (it needs the time to finish). */
  readonly lastBeforeEnd: number;
  /** The window is at least this long (at least one reload after the first), whatever `--duration` says. */
  readonly minSeconds: number;
}

/** The reload workload's plan: at 1 s, then every 2 s, none in the window's last 1.5 s; at least 5 s (2 reloads). */
export const RELOAD: ReloadPlan = { firstAt: 1, every: 2, lastBeforeEnd: 1.5, minSeconds: 5 };

/** The times (s into the window) the reloads of `plan` are asked at, in a window of `seconds`. */
export function reloadTimes(seconds: number, plan: ReloadPlan = RELOAD): number[] {
  const times: number[] = [];
  for (let t = plan.firstAt; t <= seconds - plan.lastBeforeEnd + 1e-9; t += plan.every) times.push(t);
  return times;
}

/** The measured window of a cell: `--duration`, or the workload's minimum when that is longer. */
export function windowSeconds(workload: Workload, seconds: number): number {
  return workload.reload === undefined ? seconds : Math.max(seconds, workload.reload.minSeconds);
}

/** When, as fractions of the measured window, the crash workload stops one worker and kills it. */
export interface CrashPlan {
  readonly stopAt: number;
  readonly killAt: number;
}

/** The crash workload's plan: stopped at 30% of the window, killed at 60%. */
export const CRASH: CrashPlan = { stopAt: 0.3, killAt: 0.6 };

/**
 * How long a crash-workload request may stay unanswered before it counts as hung: the time the
 * worker stays stopped, plus 2 s for the connections it never took to be placed again and answered.
 */
export function hangTimeoutMs(seconds: number, plan: CrashPlan = CRASH): number {
  return Math.round((plan.killAt - plan.stopAt) * seconds * 1000) + 2000;
}

/** Every workload, in report order. */
export const WORKLOADS: readonly Workload[] = [
  { name: 'keep-alive', description: '64 keep-alive connections, as fast as they go', load: { kind: 'keep-alive', connections: 64 } },
  { name: 'churn', description: '64 loops, a new connection per request (Connection: close)', load: { kind: 'churn', connections: 64 } },
  { name: 'mixed', description: 'churn where 10% of requests burn 10 ms of CPU', load: { kind: 'churn', connections: 64, burnFraction: 0.1 } },
  { name: 'mixed-rate', description: 'the same mix arriving at a fixed 1,000 req/s (about three quarters of what 2 workers can burn): where picking a free worker shows in p99', load: { kind: 'churn', connections: 64, burnFraction: 0.1, rate: 1000 } },
  { name: 'slow-worker', description: 'the mixed-rate mix at 600 req/s on 4 workers, one of them paused (SIGSTOP) for 200 ms of every second: where a latency-aware policy shows', load: { kind: 'churn', connections: 64, burnFraction: 0.1, rate: 600 }, workers: 4, pauses: PAUSES },
  { name: 'throttled-worker', description: 'the slow-worker mix and rate on 4 workers, one of them throttled to a tenth of its speed throughout (SIGSTOPped 9 ms of every 10 ms): slow, not stopped, it still takes what it is sent', load: { kind: 'churn', connections: 64, burnFraction: 0.1, rate: 600 }, workers: 4, pauses: THROTTLE },
  { name: 'fairness', description: '8 workers, 64 keep-alive connections at a fixed 2,000 req/s', load: { kind: 'keep-alive', connections: 64, rate: 2000 }, workers: 8 },
  { name: 'crash', description: 'churn; one worker SIGSTOPped at 30% of the window, SIGKILLed at 60%: failed requests against what it had taken, and hung ones', load: { kind: 'churn', connections: 64, settle: true }, crash: CRASH },
  { name: 'reload', description: '32 keep-alive clients and 32 churn clients at once; a rolling reload 1 s into the window and every 2 s after: failed requests and keep-alive reconnects per reload', load: { kind: 'keep-alive-and-churn', connections: 32, churnConnections: 32 }, reload: RELOAD },
  { name: 'idle', description: '5,000 idle connections held open, 64 active keep-alive', load: { kind: 'keep-alive', connections: 64, idle: 5000 } },
];
