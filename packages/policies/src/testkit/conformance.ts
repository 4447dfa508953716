// Longer than most modules: the list of properties every policy must hold, one case each; it grows
// by cases, not by jobs.
import type { ConnectionInfo, Policy, PrimaryPolicy, WorkerView } from '../types.js';
import { seededRandom } from './random.js';

// Node, Deno, Bun and browsers have it; the package's lib is plain ES2023, with no DOM or Node types.
declare const performance: { now(): number };

/** What {@link runConformance} passes to the factory of the policy under test. */
export interface PolicyFactoryContext {
  /** A seeded random source: build the policy with it (e.g. `{ random }`) so runs can be compared. */
  readonly random: () => number;
}

/** Builds a fresh policy. Called several times: each call must return a new, independent one. */
export type PolicyFactory = (context: PolicyFactoryContext) => Policy;

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** Seed of the random views, loads, addresses and of the policy's own source (default 1). */
  readonly seed?: number;
  /** Largest view tried (default 64). */
  readonly maxWorkers?: number;
  /** Picks per check (default 2,000). */
  readonly picks?: number;
  /**
   * Mean time one pick may take on a view of `maxWorkers` workers, in nanoseconds (default 20,000:
   * generous, so that a loaded CI machine does not fail a fast policy, yet an O(n²) pick, or one
   * that allocates heavily or does I/O, is caught). Set `Infinity` to skip the check.
   */
  readonly budgetNs?: number;
  /**
   * Whether the policy may return `undefined` for a non-empty view, to queue the connection
   * (default false: a built-in always picks someone).
   */
  readonly mayQueue?: boolean;
}

/** One check of the suite and its outcome. */
export interface ConformanceCheck {
  readonly name: string;
  readonly ok: boolean;
  /** Why it failed, or a figure it measured. */
  readonly detail: string;
}

/** The outcome of {@link runConformance}. */
export interface ConformanceReport {
  readonly policy: string;
  readonly mode: Policy['mode'];
  readonly checks: readonly ConformanceCheck[];
  /** Mean time of one pick on a view of `maxWorkers`, in nanoseconds (mode `primary` only). */
  readonly meanPickNs: number | undefined;
}

/** Thrown by {@link runConformance} when a check fails; `report` says which and why. */
export class ConformanceError extends Error {
  constructor(readonly report: ConformanceReport) {
    const failed = report.checks.filter((c) => !c.ok);
    super(`policy ${JSON.stringify(report.policy)} fails ${failed.length} conformance check(s):\n${failed.map((c) => `  - ${c.name}: ${c.detail}`).join('\n')}`);
    this.name = 'ConformanceError';
  }
}

class CheckFailed extends Error {}

function fail(message: string): never {
  throw new CheckFailed(message);
}

/** A frozen worker view, so a policy that writes to it throws (ES modules are strict). */
function worker(id: number, slot: number, rand: () => number, weight = 1): WorkerView {
  return Object.freeze({
    id,
    slot,
    weight,
    connections: Math.floor(rand() * 50),
    inFlight: rand() < 0.7 ? 0 : Math.floor(rand() * 4),
    requests: Math.floor(rand() * 1000),
    eventLoopDelay: rand() * 20,
    readySince: 1_700_000_000_000 + id,
    reportedAt: 1_700_000_000_000 + Math.floor(rand() * 60_000),
  });
}

function infoFor(rand: () => number): ConnectionInfo {
  const r = rand();
  if (r < 0.7) {
    const a = Math.floor(rand() * 2 ** 32);
    return { listener: 0, remoteAddress: `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`, remotePort: 1024 + Math.floor(rand() * 60000), family: 'IPv4' };
  }
  if (r < 0.9) return { listener: 1, remoteAddress: `2001:db8::${Math.floor(rand() * 65536).toString(16)}`, remotePort: 1024 + Math.floor(rand() * 60000), family: 'IPv6' };
  return { listener: 0, remoteAddress: undefined, remotePort: undefined, family: undefined };
}

function view(size: number, rand: () => number, firstId = 1): WorkerView[] {
  const ws: WorkerView[] = [];
  let id = firstId;
  for (let slot = 0; slot < size; slot++) {
    id += 1 + Math.floor(rand() * 3);
    ws.push(worker(id, slot, rand, rand() < 0.8 ? 1 : 1 + Math.floor(rand() * 4)));
  }
  return ws;
}

/** Calls `pick` and checks the answer is a member of the view (by identity), or allowed undefined. */
function checkedPick(policy: PrimaryPolicy, workers: readonly WorkerView[], info: ConnectionInfo, mayQueue: boolean): WorkerView | undefined {
  const frozen = Object.isFrozen(workers) ? workers : Object.freeze([...workers]);
  const chosen = policy.pick(frozen, info);
  if (chosen === undefined) {
    if (workers.length > 0 && !mayQueue) fail(`returned undefined for a view of ${workers.length} worker(s) (pass mayQueue: true if the policy queues on purpose)`);
    return undefined;
  }
  if (!frozen.includes(chosen)) fail(`returned a worker that is not in the view (id ${String((chosen as { id?: unknown }).id)}; view ids ${frozen.map((w) => w.id).join(',')})`);
  return chosen;
}

interface Suite {
  readonly name: string;
  run(): string;
}

/**
 * Runs the conformance suite on the policy `factory` builds, and returns the report; throws a
 * {@link ConformanceError} listing every failed check. Framework-agnostic: call it inside any test
 * (`it('conforms', () => { runConformance(...) })`) or a plain script.
 *
 * For mode `primary` it checks that the policy: has a name and a `pick`; returns `undefined` for
 * an empty view; never returns a worker outside the view (views of 1..`maxWorkers` frozen workers
 * with random ids, slots, weights, loads and client addresses, IPv4, IPv6 and none); never writes
 * to the view; follows a changing view (workers join and leave, with `join`/`leave` called as the
 * orchestrator does, replacements taking a slot back) and never picks one that left; makes the
 * same picks twice from the same seed; and keeps a mean pick within `budgetNs` on `maxWorkers`
 * workers. For modes `shared` and `reuseport` it checks the shape only.
 */
export function runConformance(factory: PolicyFactory, options: ConformanceOptions = {}): ConformanceReport {
  const seed = options.seed ?? 1;
  const maxWorkers = options.maxWorkers ?? 64;
  const picks = options.picks ?? 2000;
  const budgetNs = options.budgetNs ?? 20_000;
  const mayQueue = options.mayQueue ?? false;
  const make = (s: number): Policy => factory({ random: seededRandom(s) });

  const first = make(seed);
  const checks: ConformanceCheck[] = [];
  let meanPickNs: number | undefined;
  const run = (suite: Suite): void => {
    try {
      checks.push({ name: suite.name, ok: true, detail: suite.run() });
    } catch (error) {
      const detail = error instanceof CheckFailed ? error.message : `threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`;
      checks.push({ name: suite.name, ok: false, detail });
    }
  };

  run({
    name: 'shape',
    run() {
      if (first === null || typeof first !== 'object') fail('the factory did not return an object');
      if (!['primary', 'shared', 'reuseport'].includes(first.mode)) fail(`mode must be 'primary', 'shared' or 'reuseport', got ${String(first.mode)}`);
      if (typeof first.name !== 'string' || first.name === '') fail('name must be a non-empty string');
      if (first.mode === 'primary') {
        if (typeof first.pick !== 'function') fail('a primary policy needs pick(workers, info)');
        for (const hook of ['join', 'leave'] as const) if (first[hook] !== undefined && typeof first[hook] !== 'function') fail(`${hook} must be a function when present`);
        if (make(seed) === first) fail('the factory must return a new policy on every call (policies keep state)');
      }
      return `mode ${String(first.mode)}, name ${String(first.name)}`;
    },
  });
  const report = (): ConformanceReport => {
    const r: ConformanceReport = { policy: String(first?.name), mode: first?.mode, checks, meanPickNs };
    if (checks.some((c) => !c.ok)) throw new ConformanceError(r);
    return r;
  };
  if (checks[0]!.ok === false || first.mode !== 'primary') return report();

  const fresh = (s: number): PrimaryPolicy => make(s) as PrimaryPolicy;
  const info0: ConnectionInfo = { listener: 0, remoteAddress: '127.0.0.1', remotePort: 50000, family: 'IPv4' };

  run({
    name: 'empty view',
    run() {
      const p = fresh(seed);
      if (p.pick(Object.freeze([]), info0) !== undefined) fail('pick([]) must return undefined');
      // and after having picked from a non-empty one
      const ws = view(3, seededRandom(seed));
      for (const w of ws) p.join?.(w);
      checkedPick(p, ws, info0, mayQueue);
      for (const w of ws) p.leave?.(w);
      if (p.pick(Object.freeze([]), info0) !== undefined) fail('pick([]) must return undefined after every worker left');
      return 'undefined';
    },
  });

  run({
    name: 'picks only from the view, never writes to it',
    run() {
      const rand = seededRandom(seed ^ 0x5eed);
      const p = fresh(seed);
      for (let i = 0; i < picks; i++) {
        const ws = Object.freeze(view(1 + Math.floor(rand() * maxWorkers), rand));
        checkedPick(p, ws, infoFor(rand), mayQueue);
      }
      return `${picks} picks on random views of 1..${maxWorkers}`;
    },
  });

  const changing = (p: PrimaryPolicy, s: number): number[] => {
    const rand = seededRandom(s);
    let nextId = 1;
    const live: WorkerView[] = [];
    const left = new Set<WorkerView>();
    const free: number[] = [];
    const add = (slot: number): void => {
      const w = worker(nextId++, slot, rand);
      p.join?.(w);
      live.push(w);
      live.sort((a, b) => a.id - b.id);
    };
    for (let slot = 0; slot < 4; slot++) add(slot);
    let slots = 4;
    const out: number[] = [];
    for (let i = 0; i < picks; i++) {
      const r = rand();
      if (r < 0.05 && live.length > 0) {
        const w = live.splice(Math.floor(rand() * live.length), 1)[0]!;
        p.leave?.(w);
        left.add(w);
        free.push(w.slot);
      } else if (r < 0.1 && live.length < maxWorkers) {
        // A replacement takes a freed slot back; otherwise the pool grows.
        add(free.length > 0 && rand() < 0.7 ? free.shift()! : slots++);
      }
      const chosen = checkedPick(p, Object.freeze([...live]), infoFor(rand), mayQueue);
      if (chosen !== undefined && left.has(chosen)) fail(`picked worker ${chosen.id}, which left`);
      out.push(chosen === undefined ? -1 : chosen.id);
      if (i === picks >> 1) {
        // Everyone leaves, then the pool comes back.
        for (const w of live.splice(0)) {
          p.leave?.(w);
          left.add(w);
        }
        if (p.pick(Object.freeze([]), infoFor(rand)) !== undefined) fail('pick([]) must return undefined once every worker left');
        for (let slot = 0; slot < 3; slot++) add(slot);
      }
    }
    return out;
  };

  run({
    name: 'follows a changing view (join, leave, replacement)',
    run() {
      changing(fresh(seed), seed + 1);
      return `${picks} picks while workers join and leave`;
    },
  });

  run({
    name: 'deterministic under a seeded random',
    run() {
      const a = changing(fresh(seed + 7), seed + 2);
      const b = changing(fresh(seed + 7), seed + 2);
      const at = a.findIndex((id, i) => id !== b[i]);
      if (at !== -1) fail(`two policies from the same seed picked differently at pick ${at} (worker ${a[at]} then ${b[at]}): use only the random source given to the factory, never Math.random or the clock`);
      return `${a.length} picks identical`;
    },
  });

  run({
    name: 'time budget',
    run() {
      const rand = seededRandom(seed ^ 0xb0d9e7);
      const p = fresh(seed);
      const ws = Object.freeze(view(maxWorkers, rand));
      for (const w of ws) p.join?.(w);
      const infos = Array.from({ length: 256 }, () => infoFor(rand));
      const round = (count: number): number => {
        const t0 = performance.now();
        for (let i = 0; i < count; i++) p.pick(ws, infos[i & 255]!);
        return ((performance.now() - t0) * 1e6) / count;
      };
      round(2000); // warm up
      // Best of three rounds: a scheduler hiccup on a busy machine does not fail a fast policy.
      meanPickNs = Math.min(round(picks * 5), round(picks * 5), round(picks * 5));
      if (meanPickNs > budgetNs) fail(`a pick on ${maxWorkers} workers takes ${meanPickNs.toFixed(0)} ns on average, over the ${budgetNs} ns budget`);
      return `${meanPickNs.toFixed(0)} ns per pick on ${maxWorkers} workers`;
    },
  });

  return report();
}
