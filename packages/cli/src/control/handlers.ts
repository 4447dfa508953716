import { describeCpuCount, type CpuCount, type Primary, type WorkerInfo } from '@handoff/orchestrator';
import { CliErrorCode, HandoffCliError } from '../errors.js';
import type { CpuSampler } from '../cpu.js';
import type { StartSettings } from '../settings.js';
import type { ControlHandler } from './server.js';
import type { ControlCommand } from './protocol.js';
import type { LogRecord } from '../logs/sink.js';
import type { UpgradeRequest, UpgradeResult } from '../upgrade.js';

/** What a running `handoff start` lends its control handlers. */
export interface RunningPrimary {
  readonly primary: Primary;
  readonly settings: StartSettings;
  readonly cpu: CpuSampler;
  readonly startedAt: number;
  /** Workers wanted now (after scale, TTIN, TTOU). */
  target: number;
  /** How `--workers auto` was counted; undefined for a number. */
  readonly auto: CpuCount | undefined;
  /** What @handoff/fdpass chose at start (undefined before it said). */
  transportChoice(): TransportChoice | undefined;
  /** Calls `listener` with every log record from now on; returns its removal. */
  tapLogs(listener: (record: LogRecord) => void): () => void;
  /** Writes one of the primary's own events to the log. */
  log(event: string, message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** Starts the graceful stop (as SIGTERM) and resolves with the exit code once every worker is gone. */
  stop(timeout: number | undefined): Promise<number>;
  /** Which primary this is: 1 for one `handoff start` began, one more at each upgrade. */
  readonly generation: number;
  /**
   * Upgrades the primary itself (as `handoff upgrade` and SIGUSR2 do): resolves once a new primary
   * serves and holds the control socket, this one draining; rejects, this one serving on, when not.
   */
  upgrade(request: UpgradeRequest, progress: (message: string, data?: unknown) => void): Promise<UpgradeResult>;
}

/** One worker as `status` shows it. */
export interface WorkerStatus {
  readonly id: number;
  readonly instance: number;
  readonly pid: number;
  readonly state: string;
  readonly uptimeMs: number;
  readonly restarts: number;
  readonly connections: number;
  readonly requests: number;
  readonly rss: number;
  readonly cpu: number | null;
  readonly eventLoopDelay: number;
  /** What its connections cross on: `'native'`, `'ipc'`, or null where none cross (mode shared). */
  readonly transport: 'native' | 'ipc' | null;
}

/** What `status --json` prints. */
export interface PrimaryStatus {
  readonly name: string;
  readonly pid: number;
  /** 1 for the primary `handoff start` began, one more at each upgrade. */
  readonly generation: number;
  /** The primary's Node.js version (`v24.1.0`): what `upgrade --node` changes. */
  readonly node: string;
  readonly entry: string;
  readonly state: string;
  readonly uptimeMs: number;
  readonly policy: { readonly name: string; readonly mode: string };
  readonly listeners: readonly unknown[];
  readonly target: number;
  /** How `--workers auto` counted the workers at start; null where a number was given. */
  readonly auto: AutoStatus | null;
  readonly workers: readonly WorkerStatus[];
  readonly queued: number;
  readonly rejected: Readonly<Record<string, number>>;
  readonly rejectedTotal: number;
  /** Connections draining workers gave back between requests, placed on other workers (`moveOnDrain`). */
  readonly moved: number;
  /** Which fdpass addon carries connections, or why IPC does; null where fdpass said nothing, absent from an older primary. */
  readonly addon?: AddonStatus | null;
}

/** What @handoff/fdpass publishes once on `handoff:transport:selected` (read by name: the CLI does not depend on fdpass). */
export interface TransportChoice {
  readonly requested: string;
  readonly transport: 'native' | 'ipc';
  /** Why `auto` fell back to IPC. */
  readonly reason?: string;
  /** On native: `'built'` (compiled at install) or `'prebuilt linux-x64-gnu'`… */
  readonly binary?: string;
}

/** Which addon carries connections, and why IPC where it does not: what status and the ready line say. */
export interface AddonStatus {
  /** `'auto'`, `'native'` or `'ipc'`. */
  readonly requested: string;
  readonly transport: 'native' | 'ipc';
  /** `'built'` (compiled at install) or `'prebuilt linux-x64-gnu'`…; null on IPC. */
  readonly binary: string | null;
  /** Why `auto` fell back to IPC (the addon's load failure); null otherwise. */
  readonly reason: string | null;
  /** `prebuilt linux-x64-gnu`, `built at install`, `addon not loaded: …`; empty where IPC was asked for. */
  readonly description: string;
}

/** fdpass's choice as status and the ready line carry it. */
export function addonStatus(choice: TransportChoice | undefined): AddonStatus | null {
  if (choice === undefined) return null;
  const binary = choice.transport === 'native' ? (choice.binary ?? null) : null;
  const reason = choice.transport === 'ipc' ? (choice.reason ?? null) : null;
  const description = binary === 'built' ? 'built at install' : binary !== null ? binary : reason !== null ? `addon not loaded: ${reason}` : '';
  return { requested: choice.requested, transport: choice.transport, binary, reason, description };
}

/** How `auto` counted: the CPUs this process may use, and what limited them. */
export interface AutoStatus {
  readonly workers: number;
  /** `'cgroup'` (a CPU quota) or `'affinity'` (`os.availableParallelism()`). */
  readonly source: 'cgroup' | 'affinity';
  readonly parallelism: number;
  /** The tightest cgroup CPU quota, in CPUs; null where none is set. */
  readonly quota: number | null;
  readonly quotaFile: string | null;
  /** `cgroup cpu quota 1.0 of 2 CPUs`. */
  readonly description: string;
}

/** `auto`'s count as status and the ready line carry it. */
export function autoStatus(c: CpuCount | undefined): AutoStatus | null {
  if (c === undefined) return null;
  return { workers: c.count, source: c.source, parallelism: c.parallelism, quota: c.quota ?? null, quotaFile: c.quotaFile ?? null, description: describeCpuCount(c) };
}

/** The status of a running primary, now. */
export function statusOf(run: RunningPrimary): PrimaryStatus {
  const now = Date.now();
  const stats = run.primary.stats();
  return {
    name: run.settings.name,
    pid: process.pid,
    generation: run.generation,
    node: process.version,
    entry: run.settings.entry,
    state: run.primary.state,
    uptimeMs: now - run.startedAt,
    policy: { name: run.settings.policy.name, mode: run.settings.policy.mode },
    listeners: run.primary.addresses(),
    target: run.target,
    auto: autoStatus(run.auto),
    workers: run.primary.workers().map((w) => ({
      id: w.id,
      instance: w.instance,
      pid: w.pid,
      state: w.state,
      uptimeMs: now - w.spawnedAt,
      restarts: w.restarts,
      connections: w.connections,
      requests: w.requests,
      rss: w.rss,
      cpu: run.cpu.percent(w.pid),
      eventLoopDelay: w.eventLoopDelay,
      transport: w.transport,
    })),
    queued: stats.queued,
    rejected: stats.rejected,
    rejectedTotal: Object.values(stats.rejected).reduce((a, b) => a + b, 0),
    moved: stats.moved,
    addon: addonStatus(run.transportChoice()),
  };
}

/** Reads `scale`'s argument: `N`, `+N` or `-N` against the current `target`. */
export function scaleTarget(spec: unknown, current: number): number {
  const match = typeof spec === 'string' || typeof spec === 'number' ? /^([+-]?)(\d+)$/.exec(String(spec).trim()) : null;
  if (match === null) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `scale needs N, +N or -N, got ${JSON.stringify(spec)}`);
  const n = Number(match[2]);
  const target = match[1] === '+' ? current + n : match[1] === '-' ? current - n : n;
  if (target < 1) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `scale ${String(spec)} would leave ${target} workers; at least 1 must run`);
  return target;
}

/** Reports each worker that becomes ready while `work` runs, as progress. */
async function withProgress<T>(primary: Primary, progress: (message: string, data?: unknown) => void, total: number, work: () => Promise<T>): Promise<T> {
  let ready = 0;
  const onReady = (w: WorkerInfo): void => progress(`${++ready}/${total} new workers ready (instance ${w.instance}, pid ${w.pid})`, { instance: w.instance, pid: w.pid });
  const onExit = (w: WorkerInfo): void => progress(`worker ${w.instance} (pid ${w.pid}) left`, { instance: w.instance, pid: w.pid });
  primary.on('worker:ready', onReady);
  primary.on('worker:exit', onExit);
  try {
    return await work();
  } finally {
    primary.off('worker:ready', onReady);
    primary.off('worker:exit', onExit);
  }
}

/** Scales the primary to `target` workers, as `scale`, TTIN and TTOU do. */
export async function scaleTo(run: RunningPrimary, target: number, progress: (message: string, data?: unknown) => void = () => {}): Promise<{ workers: number }> {
  const from = run.target;
  run.target = target;
  run.log('scale', `scaling from ${plural(from, 'worker')} to ${target}`, { from, workers: target });
  await withProgress(run.primary, progress, Math.max(0, target - from), () => run.primary.scale(target));
  return { workers: target };
}

/** `1 worker`, `3 workers`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The handlers of every control command, bound to one running primary. */
export function controlHandlers(run: RunningPrimary): Record<ControlCommand, ControlHandler> {
  return {
    status: async () => statusOf(run),
    reload: async (_args, progress) => {
      const before = run.primary.workers().filter((w) => w.state === 'ready').length;
      const started = Date.now();
      await withProgress(run.primary, progress, before, () => run.primary.reload());
      return { replaced: before, ms: Date.now() - started };
    },
    scale: async (args, progress) => scaleTo(run, scaleTarget(args.workers, run.target), progress),
    logs: (_args, progress, closed) =>
      new Promise((resolve) => {
        const untap = run.tapLogs((record) => progress('', record));
        closed.addEventListener('abort', () => resolve(untap()), { once: true });
      }),
    upgrade: async (args, progress) => {
      for (const key of Object.keys(args)) if (key !== 'node') throw new HandoffCliError(CliErrorCode.USAGE, `upgrade takes no argument ${JSON.stringify(key)}; it takes node`);
      if (args.node !== undefined && typeof args.node !== 'string') throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `upgrade's node must be a path, got ${JSON.stringify(args.node)}`);
      return run.upgrade({ node: args.node }, progress);
    },
    stop: async (args, progress) => {
      const timeout = typeof args.timeout === 'number' && Number.isInteger(args.timeout) && args.timeout >= 0 ? args.timeout : undefined;
      progress(`draining ${run.primary.workers().length} workers`);
      const code = await run.stop(timeout);
      return { exitCode: code };
    },
  };
}
