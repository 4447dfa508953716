// Longer than most modules: one simulator of a pool (workers, connections, closes, load reports)
// that every policy test and the conformance suite drive; it is one model, read as one.
import type { ConnectionInfo, Policy, WorkerView } from '../types.js';
import { seededRandom } from './random.js';

/** One simulated worker. */
export interface SimulatedWorker {
  /** The view's `weight` (default 1). */
  readonly weight?: number;
  /**
   * Speed relative to a normal worker (default 1; 0.5 takes twice as long per request), or a
   * function of virtual time in ms, to slow a worker down for a while.
   */
  readonly speed?: number | ((timeMs: number) => number);
}

/** A synthetic workload for {@link simulate}. Times are virtual milliseconds. */
export interface Workload {
  /** The workers: a count of identical ones, or one entry each (default 4). */
  readonly workers?: number | readonly SimulatedWorker[];
  /** New connections per second, Poisson arrivals (default 1,000). */
  readonly arrivalRate?: number;
  /** Connections to replay (default 20,000). */
  readonly connections?: number;
  /** Requests on each connection, one after another (default 1). */
  readonly requestsPerConnection?: number;
  /**
   * CPU time of a request on a normal worker, in ms: a mean, exponentially distributed (default 1),
   * or a function that draws one from the simulation's seeded `random` (a mix: `(r) => (r() < 0.1 ? 10 : 0.1)`).
   */
  readonly requestCost?: number | ((random: () => number) => number);
  /** Mean pause between a response and the connection's next request, ms (default 0). */
  readonly thinkTime?: number;
  /** Mean time a connection stays open from its arrival, at least until its last response, ms (default 0). */
  readonly connectionLifetime?: number;
  /** Distinct client addresses the connections come from (default 1,000). */
  readonly clients?: number;
  /** Seed of every random draw, the policy's included when it was built with it (default 1). */
  readonly seed?: number;
  /**
   * How often each worker reports its load, in ms (default 0: the view is current at every pick).
   * With a period, `eventLoopDelay` is the largest backlog the worker had since its last report,
   * and `requests` and `reportedAt` change only at its reports (each worker on its own phase), as
   * the real workers' reports lag; `connections` and `inFlight`, which the primary counts itself,
   * stay current.
   */
  readonly reportInterval?: number;
}

/** What {@link simulate} measured. */
export interface SimulationResult {
  /** Fraction of the connections each worker got, by worker index. */
  readonly share: readonly number[];
  /** Fraction of the requests' CPU time each worker spent, by worker index. */
  readonly workShare: readonly number[];
  /** Coefficient of variation (stddev / mean) of the per-worker time-averaged open connections. */
  readonly cv: number;
  /** Coefficient of variation of the per-worker busy time. */
  readonly workCv: number;
  /** Median time a request waited in its worker's queue before it ran, ms. */
  readonly p50: number;
  /** 99th percentile of that wait, ms. */
  readonly p99: number;
  /** Median response time: the wait plus the request's own run on its worker (slower on a slow one), ms. */
  readonly responseP50: number;
  /** 99th percentile of the response time, ms. */
  readonly responseP99: number;
  /** Connections the policy left unpicked (returned undefined): dropped by the simulator. */
  readonly unpicked: number;
  /** Virtual time the replay covered, ms. */
  readonly durationMs: number;
}

interface SimWorker extends WorkerView {
  id: number;
  slot: number;
  weight: number;
  connections: number;
  inFlight: number;
  requests: number;
  eventLoopDelay: number;
  readySince: number;
  reportedAt: number;
}

/** A binary min-heap of events by time (ties in insertion order). */
class EventQueue {
  private times: number[] = [];
  private seqs: number[] = [];
  private items: number[] = [];
  private seq = 0;
  get size(): number {
    return this.items.length;
  }
  push(time: number, item: number): void {
    const t = this.times;
    const s = this.seqs;
    const it = this.items;
    let i = it.length;
    const q = this.seq++;
    t.push(time);
    s.push(q);
    it.push(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p]! < time || (t[p] === time && s[p]! < q)) break;
      t[i] = t[p]!;
      s[i] = s[p]!;
      it[i] = it[p]!;
      i = p;
    }
    t[i] = time;
    s[i] = q;
    it[i] = item;
  }
  /** Removes the earliest event; its time is in `lastTime`. */
  lastTime = 0;
  pop(): number {
    const t = this.times;
    const s = this.seqs;
    const it = this.items;
    const top = it[0]!;
    this.lastTime = t[0]!;
    const time = t.pop()!;
    const q = s.pop()!;
    const item = it.pop()!;
    const n = it.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && (t[r]! < t[l]! || (t[r] === t[l] && s[r]! < s[l]!)) ? r : l;
        if (time < t[c]! || (time === t[c] && q < s[c]!)) break;
        t[i] = t[c]!;
        s[i] = s[c]!;
        it[i] = it[c]!;
        i = c;
      }
      t[i] = time;
      s[i] = q;
      it[i] = item;
    }
    return top;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function cvOf(values: readonly number[]): number {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (mean === 0) return 0;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
  return Math.sqrt(variance) / mean;
}

/**
 * Replays a synthetic workload against a policy in virtual time, and reports how it spread the
 * load. Each worker is a single-threaded queue (like a Node event loop): a request waits until the
 * worker is free, then runs for its cost divided by the worker's speed. The view the policy reads
 * is kept current at once (open connections, requests, as `eventLoopDelay` the worker's backlog
 * in ms, and as `inFlight` the connections sent while it was busy that it has not reached yet), or,
 * with `reportInterval`, `requests` and `eventLoopDelay` lag by a report as the real orchestrator's
 * do.
 * Deterministic for a seed. 20,000 connections take a few tens of milliseconds.
 *
 * Only a policy of mode `primary` can be simulated: in the kernel modes the OS picks.
 */
export function simulate(policy: Policy, workload: Workload = {}): SimulationResult {
  if (policy.mode !== 'primary') throw new TypeError(`simulate(): only a policy of mode 'primary' can be replayed; ${policy.name} is of mode '${policy.mode}', where the kernel picks`);
  const specs: readonly SimulatedWorker[] =
    typeof workload.workers === 'number' || workload.workers === undefined ? Array.from({ length: workload.workers ?? 4 }, () => ({})) : workload.workers;
  const n = specs.length;
  if (n === 0) throw new TypeError('simulate(): needs at least one worker');
  const rate = workload.arrivalRate ?? 1000;
  const total = workload.connections ?? 20_000;
  const perConnection = workload.requestsPerConnection ?? 1;
  const costSpec = workload.requestCost ?? 1;
  const reportEvery = workload.reportInterval ?? 0;
  const think = workload.thinkTime ?? 0;
  const lifetime = workload.connectionLifetime ?? 0;
  const clients = workload.clients ?? 1000;
  const rand = seededRandom(workload.seed ?? 1);
  const exp = (mean: number): number => (mean <= 0 ? 0 : -Math.log(1 - rand()) * mean);
  const drawCost = typeof costSpec === 'function' ? (): number => Math.max(0, costSpec(rand)) : (): number => exp(costSpec);

  const workers: SimWorker[] = specs.map((s, i) => ({ id: i + 1, slot: i, weight: s.weight ?? 1, connections: 0, inFlight: 0, requests: 0, eventLoopDelay: 0, readySince: 0, reportedAt: 0 }));
  const view: readonly WorkerView[] = workers;
  for (const w of workers) policy.join?.(w);
  const speedAt = specs.map((s) => (typeof s.speed === 'function' ? s.speed : () => (s as { speed?: number }).speed ?? 1));
  const freeAt = new Float64Array(n);
  // When each worker takes the connections sent to it (a busy worker takes them once it is free),
  // oldest first: those still ahead of `now` are the view's `inFlight`.
  const takeAt: number[][] = workers.map(() => []);
  const takeHead = new Int32Array(n);
  const busy = new Float64Array(n);
  const connCount = new Float64Array(n);
  // Time-integral of open connections per worker, for the time-averaged load.
  const area = new Float64Array(n);
  const areaSince = new Float64Array(n);

  // Per connection: worker index, requests left, open-until time.
  const connWorker = new Int32Array(total).fill(-1);
  const connLeft = new Int32Array(total);
  const connUntil = new Float64Array(total);
  const waits = new Float64Array(total * perConnection);
  const responses = new Float64Array(total * perConnection);
  // With reportInterval: the largest backlog since the last report, requests served, and when the
  // next report is due (workers' phases spread over one period).
  const peakBacklog = new Float64Array(n);
  const served = new Float64Array(n);
  const nextReport = Float64Array.from(workers, (_, i) => (reportEvery * (i + 1)) / n);
  let waitCount = 0;
  let unpicked = 0;

  // Events: item >= 0 is "connection item sends its next request"; -1 - item closes it; arrivals are generated inline.
  const queue = new EventQueue();
  const ARRIVAL = -2_000_000_000;
  const WAKE = ARRIVAL + 1;
  let arrived = 0;
  let now = 0;
  queue.push(exp(1000 / rate), ARRIVAL);

  const setConnections = (w: number, delta: number): void => {
    area[w] = area[w]! + workers[w]!.connections * (now - areaSince[w]!);
    areaSince[w] = now;
    workers[w]!.connections += delta;
  };
  /** Connection `c` sends its next request now; `since`: when it began waiting (its arrival, for the first). */
  const request = (c: number, since: number): void => {
    const w = connWorker[c]!;
    const start = Math.max(now, freeAt[w]!);
    const speed = Math.max(1e-6, speedAt[w]!(start));
    const service = drawCost() / speed;
    responses[waitCount] = start + service - since;
    waits[waitCount++] = start - since;
    freeAt[w] = start + service;
    busy[w] = busy[w]! + service;
    const worker = workers[w]!;
    if (reportEvery > 0) {
      served[w] = served[w]! + 1;
      if (freeAt[w]! - now > peakBacklog[w]!) peakBacklog[w] = freeAt[w]! - now;
    } else {
      worker.requests++;
      worker.eventLoopDelay = freeAt[w]! - now;
    }
    connLeft[c] = connLeft[c]! - 1;
    const done = start + service;
    if (connLeft[c]! > 0) queue.push(done + exp(think), c);
    else queue.push(Math.max(done, connUntil[c]!), -1 - c);
  };

  /** Brings the view up to `now`: reports that are due, and what each worker has in flight. */
  const refreshView = (): void => {
    for (let i = 0; i < n; i++) {
      const w = workers[i]!;
      const backlog = Math.max(0, freeAt[i]! - now);
      if (reportEvery === 0) {
        w.eventLoopDelay = backlog;
        w.reportedAt = now;
      } else {
        if (backlog > peakBacklog[i]!) peakBacklog[i] = backlog;
        if (now >= nextReport[i]!) {
          w.eventLoopDelay = peakBacklog[i]!;
          w.requests = served[i]!;
          w.reportedAt = nextReport[i]! + Math.floor((now - nextReport[i]!) / reportEvery) * reportEvery;
          nextReport[i] = w.reportedAt + reportEvery;
          peakBacklog[i] = backlog;
        }
      }
      const takes = takeAt[i]!;
      let head = takeHead[i]!;
      while (head < takes.length && takes[head]! <= now) head++;
      if (head > 1024 && head * 2 > takes.length) {
        takes.splice(0, head);
        head = 0;
      }
      takeHead[i] = head;
      w.inFlight = takes.length - head;
    }
  };

  // oneInFlight, as the orchestrator does it: only the workers with nothing in flight are offered;
  // when every worker has some, the connection waits in the primary (FIFO) for the first to take
  // its last one.
  const oneInFlight = policy.oneInFlight === true;
  const offered: SimWorker[] = [];
  const waiting: number[] = [];
  let waitingHead = 0;
  let wakeAt = Infinity;
  const connClient = new Int32Array(total);
  const connArrival = new Float64Array(total);

  /** Places connection `c` now; false when it must wait in the primary (oneInFlight, all busy). */
  const place = (c: number): boolean => {
    let candidates: readonly WorkerView[] = view;
    if (oneInFlight) {
      offered.length = 0;
      for (const w of workers) if (w.inFlight === 0) offered.push(w);
      if (offered.length === 0) {
        let first = Infinity;
        for (let i = 0; i < n; i++) first = Math.min(first, takeAt[i]![takeAt[i]!.length - 1]!);
        if (first < wakeAt) {
          wakeAt = first;
          queue.push(first, WAKE);
        }
        return false;
      }
      candidates = offered;
    }
    const client = connClient[c]!;
    const info: ConnectionInfo = { listener: 0, remoteAddress: `10.${(client >> 16) & 255}.${(client >> 8) & 255}.${client & 255}`, remotePort: 1024 + (c % 60000), family: 'IPv4' };
    const chosen = policy.pick(candidates, info);
    const w = chosen === undefined ? -1 : workers.indexOf(chosen as SimWorker);
    if (w < 0) {
      unpicked++;
      return true;
    }
    connWorker[c] = w;
    connCount[w] = connCount[w]! + 1;
    connLeft[c] = perConnection;
    connUntil[c] = now + exp(lifetime);
    setConnections(w, 1);
    if (freeAt[w]! > now) {
      takeAt[w]!.push(freeAt[w]!);
      workers[w]!.inFlight++;
    }
    request(c, connArrival[c]!);
    return true;
  };

  while (queue.size > 0) {
    const item = queue.pop();
    now = queue.lastTime;
    if (item === ARRIVAL) {
      const c = arrived++;
      if (arrived < total) queue.push(now + exp(1000 / rate), ARRIVAL);
      connClient[c] = Math.floor(rand() * clients);
      connArrival[c] = now;
      refreshView();
      if (waitingHead < waiting.length || !place(c)) waiting.push(c);
    } else if (item === WAKE) {
      if (now < wakeAt) continue; // superseded by an earlier wake-up
      wakeAt = Infinity;
      refreshView();
      while (waitingHead < waiting.length && place(waiting[waitingHead]!)) waitingHead++;
      if (waitingHead === waiting.length) {
        waiting.length = 0;
        waitingHead = 0;
      }
    } else if (item >= 0) {
      request(item, now);
    } else {
      setConnections(connWorker[-1 - item]!, -1);
    }
  }
  for (let w = 0; w < n; w++) setConnections(w, 0);
  const picked = total - unpicked;
  const busyTotal = busy.reduce((a, b) => a + b, 0);
  const sorted = waits.subarray(0, waitCount).sort();
  const sortedResponses = responses.subarray(0, waitCount).sort();
  return {
    share: Array.from(connCount, (v) => (picked === 0 ? 0 : v / picked)),
    workShare: Array.from(busy, (v) => (busyTotal === 0 ? 0 : v / busyTotal)),
    cv: cvOf(Array.from(area, (a) => (now === 0 ? 0 : a / now))),
    workCv: cvOf(Array.from(busy)),
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    responseP50: percentile(sortedResponses, 0.5),
    responseP99: percentile(sortedResponses, 0.99),
    unpicked,
    durationMs: now,
  };
}
