import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import autocannon from 'autocannon';

/** What one load run measured. */
export interface LoadResult {
  readonly loader: 'autocannon' | 'handoff-churn' | 'handoff-clients' | 'wrk';
  readonly requests: number;
  readonly errors: number;
  readonly non2xx: number;
  /** Churn with `timeoutMs`: requests unanswered that long, given up on (hung); not in `errors`. */
  readonly timeouts?: number;
  readonly seconds: number;
  /** Latency percentiles in ms. */
  readonly p50: number;
  readonly p99: number;
  /** Responses per server pid (empty when the loader cannot tell, e.g. wrk). */
  readonly byPid: Record<string, number>;
  /** Keep-alive connections per server pid: which process each connection landed on. */
  readonly connectionsByPid: Record<string, number>;
  /** `keep-alive-and-churn`: what the keep-alive clients and the churn clients each saw. */
  readonly clients?: ClientsResult;
}

/** What the `keep-alive-and-churn` load counted, at the client. */
export interface ClientsResult {
  /** Connections the keep-alive clients opened, their initial ones included. */
  readonly keepAliveConnections: number;
  /** Connections the keep-alive clients had to open again (the server closed theirs): opened − initial. */
  readonly reconnects: number;
  /** Requests that failed on a keep-alive connection (no whole response, or not 2xx), by why. */
  readonly keepAliveFailed: Readonly<Record<string, number>>;
  /** Requests that failed on a churn connection, by why. */
  readonly churnFailed: Readonly<Record<string, number>>;
}

/** What to run against the server on `port`. */
export interface LoadSpec {
  readonly port: number;
  /**
   * `keep-alive-and-churn`: `connections` keep-alive clients and `churnConnections` churn clients
   * at once, on the bench's own raw-socket loops, which count reconnects and failures.
   */
  readonly kind: 'keep-alive' | 'churn' | 'keep-alive-and-churn';
  readonly connections: number;
  /** `keep-alive-and-churn`: churn clients beside the keep-alive ones. */
  readonly churnConnections?: number;
  readonly seconds: number;
  /** Fraction of requests sent to `/burn` (CPU-heavy). */
  readonly burnFraction?: number;
  /** Requests per second over all connections; unbounded when absent. */
  readonly rate?: number;
  /** Idle connections opened before the run and held through it. */
  readonly idle?: number;
  readonly loader?: 'autocannon' | 'wrk';
  /** Churn: give a request up after this many ms (counted in `timeouts`); none when absent. */
  readonly timeoutMs?: number;
  /** Churn: once the time is up, wait for every request still open to end (or time out) and count it. */
  readonly settle?: boolean;
}

function pidOf(body: string): string | undefined {
  return body.startsWith('pid:') ? body.slice(4) : undefined;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Keep-alive load with autocannon, counting which process answered each request and connection. */
async function keepAlive(spec: LoadSpec): Promise<LoadResult> {
  const byPid: Record<string, number> = {};
  const connectionsByPid: Record<string, number> = {};
  const result = await autocannon({
    url: `http://127.0.0.1:${spec.port}/`,
    connections: spec.connections,
    duration: spec.seconds,
    ...(spec.rate !== undefined ? { overallRate: spec.rate } : {}),
    setupClient(client) {
      let first = true;
      client.on('body', (body: Buffer) => {
        const pid = pidOf(body.toString());
        if (pid === undefined) return;
        byPid[pid] = (byPid[pid] ?? 0) + 1;
        if (first) {
          first = false;
          connectionsByPid[pid] = (connectionsByPid[pid] ?? 0) + 1;
        }
      });
    },
  });
  return {
    loader: 'autocannon',
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    byPid,
    connectionsByPid,
  };
}

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
const BURN = Buffer.from('GET /burn HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');

/**
 * Churn: `connections` loops, each opening a new TCP connection for every request and waiting for
 * the server to close it. autocannon reconnects lazily after a server close, which measures its own
 * reconnect delay rather than the server; this loop does nothing else.
 */
function churn(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve) => {
    const byPid: Record<string, number> = {};
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let errors = 0;
    let non2xx = 0;
    let timeouts = 0;
    let open = 0;
    let stopped = false;
    let sent = 0;
    let finish: (() => void) | undefined;
    const burnEvery = spec.burnFraction !== undefined && spec.burnFraction > 0 ? Math.round(1 / spec.burnFraction) : 0;
    const started = performance.now();
    const one = (): void => {
      if (stopped) return;
      const t0 = performance.now();
      const burn = burnEvery > 0 && ++sent % burnEvery === 0;
      const socket: Socket = connect(spec.port, '127.0.0.1');
      let response = '';
      let hung = false;
      open++;
      const timer = spec.timeoutMs === undefined ? undefined : setTimeout(() => {
        hung = true;
        socket.destroy();
      }, spec.timeoutMs);
      socket.setNoDelay(true);
      socket.once('connect', () => socket.write(burn ? BURN : REQUEST));
      socket.on('data', (chunk: Buffer) => {
        response += chunk.toString('latin1');
      });
      // An error is followed by 'close', which counts it (as an error when no response came).
      socket.once('error', () => {});
      socket.once('close', () => {
        open--;
        if (timer !== undefined) clearTimeout(timer);
        if (hung) {
          timeouts++;
        } else if (response.startsWith('HTTP/1.1 200')) {
          if (count === latencies.length) {
            const grown = new Float64Array(latencies.length * 2);
            grown.set(latencies);
            latencies = grown;
          }
          latencies[count++] = performance.now() - t0;
          const pid = pidOf(response.slice(response.indexOf('\r\n\r\n') + 4));
          if (pid !== undefined) byPid[pid] = (byPid[pid] ?? 0) + 1;
        } else if (response !== '') {
          non2xx++;
        } else {
          errors++;
        }
        // Closed loop: the next request when this one is done; open loop (a rate): on schedule.
        if (spec.rate === undefined) one();
        if (stopped && open === 0) finish?.();
      });
    };
    let ticker: NodeJS.Timeout | undefined;
    if (spec.rate === undefined) {
      for (let i = 0; i < spec.connections; i++) one();
    } else {
      // Open loop: requests arrive at `rate` whatever the server's speed, as real traffic does, so
      // a slow worker's queue shows in the latency instead of slowing the arrivals down.
      let due = 0;
      let last = performance.now();
      const rate = spec.rate;
      ticker = setInterval(() => {
        const now = performance.now();
        due += ((now - last) / 1000) * rate;
        last = now;
        for (; due >= 1; due--) one();
      }, 1);
    }
    setTimeout(() => {
      stopped = true;
      if (ticker !== undefined) clearInterval(ticker);
      // req/s over the window; with `settle`, what ends after it is counted too (each bounded by `timeoutMs`).
      const seconds = (performance.now() - started) / 1000;
      finish = () => {
        finish = undefined;
        const sorted = latencies.slice(0, count).sort();
        resolve({ loader: 'handoff-churn', requests: count, errors, non2xx, timeouts, seconds, p50: percentile(sorted, 50), p99: percentile(sorted, 99), byPid, connectionsByPid: {} });
      };
      if (spec.settle !== true || open === 0) finish();
    }, spec.seconds * 1000);
  });
}

const KEEP_ALIVE_REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/** One HTTP/1.1 response parsed off the front of `buffer`, or undefined while it is not whole. */
export function parseResponse(buffer: Buffer): { status: number; close: boolean; body: string; length: number } | undefined {
  const end = buffer.indexOf(HEAD_END);
  if (end < 0) return undefined;
  const head = buffer.toString('latin1', 0, end);
  const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
  if (buffer.length < end + 4 + length) return undefined;
  return { status: Number(head.slice(9, 12)), close: /\r\nconnection:\s*close/i.test(head), body: buffer.toString('latin1', end + 4, end + 4 + length), length: end + 4 + length };
}

/**
 * Keep-alive clients and churn clients at once, on raw sockets, so that every connection is the
 * client's own to count (autocannon reconnects silently). A keep-alive client holds one connection
 * and sends its requests one after another on it; when the server closes it (between requests, or
 * with `Connection: close`) the client opens another: a reconnect. A request fails when its
 * connection ends or errors before a whole response came (a reset, a close unanswered), or is not
 * 2xx; it is not retried. A churn client opens a connection per request, as `churn` does. Once the
 * window is over every request in flight is waited for (at most `timeoutMs`, 5 s by default), so
 * none is left uncounted.
 */
function clients(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve) => {
    const byPid: Record<string, number> = {};
    const keepAliveFailed: Record<string, number> = {};
    const churnFailed: Record<string, number> = {};
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    let errors = 0;
    let non2xx = 0;
    let timeouts = 0;
    let opened = 0;
    let open = 0;
    let stopped = false;
    let finish: (() => void) | undefined;
    const timeoutMs = spec.timeoutMs ?? 5000;
    const started = performance.now();
    const answered = (t0: number, body: string): void => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = performance.now() - t0;
      const pid = pidOf(body);
      if (pid !== undefined) byPid[pid] = (byPid[pid] ?? 0) + 1;
    };
    const failed = (into: Record<string, number>, why: string): void => {
      into[why] = (into[why] ?? 0) + 1;
      if (why.startsWith('status ')) non2xx++;
      else if (why === 'timeout') timeouts++;
      else errors++;
    };
    const done = (): void => {
      open--;
      if (stopped && open === 0) finish?.();
    };
    /** One client: `keepAlive` sends every request on one connection while the server keeps it. */
    const client = (keepAlive: boolean): void => {
      if (stopped) return;
      const into = keepAlive ? keepAliveFailed : churnFailed;
      const socket: Socket = connect(spec.port, '127.0.0.1');
      if (keepAlive) opened++;
      open++;
      let buffer: Buffer = Buffer.alloc(0);
      // A request is under way from the connect on: a refused or reset connect fails it too.
      let t0 = performance.now();
      let waiting = true;
      let connected = false;
      let ended: string | undefined;
      const deadline = (): NodeJS.Timeout =>
        setTimeout(() => {
          ended = 'timeout';
          socket.destroy();
        }, timeoutMs);
      let timer = deadline();
      const send = (): void => {
        if (!waiting) {
          t0 = performance.now();
          waiting = true;
          timer = deadline();
        }
        socket.write(keepAlive ? KEEP_ALIVE_REQUEST : REQUEST);
      };
      socket.setNoDelay(true);
      socket.once('connect', () => {
        connected = true;
        send();
      });
      socket.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
        const response = waiting ? parseResponse(buffer) : undefined;
        if (response === undefined) return;
        buffer = buffer.subarray(response.length);
        waiting = false;
        clearTimeout(timer);
        if (response.status >= 200 && response.status < 300) answered(t0, response.body);
        else failed(into, `status ${response.status}`);
        if (keepAlive && !response.close && !stopped) send();
        else socket.destroy();
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        ended ??= error.code ?? error.message;
      });
      socket.once('close', () => {
        clearTimeout(timer);
        if (waiting) failed(into, ended ?? (buffer.length > 0 ? 'partial response' : 'closed unanswered'));
        // A keep-alive client whose connection the server closed opens another (a reconnect); one
        // that could not connect at all waits 10 ms first, not to spin.
        if (connected) client(keepAlive);
        else setTimeout(() => client(keepAlive), 10);
        done();
      });
    };
    for (let i = 0; i < spec.connections; i++) client(true);
    for (let i = 0; i < (spec.churnConnections ?? 0); i++) client(false);
    setTimeout(() => {
      stopped = true;
      const seconds = (performance.now() - started) / 1000;
      finish = () => {
        finish = undefined;
        const sorted = latencies.slice(0, count).sort();
        resolve({
          loader: 'handoff-clients',
          requests: count,
          errors,
          non2xx,
          timeouts,
          seconds,
          p50: percentile(sorted, 50),
          p99: percentile(sorted, 99),
          byPid,
          connectionsByPid: {},
          clients: { keepAliveConnections: opened, reconnects: Math.max(0, opened - spec.connections), keepAliveFailed, churnFailed },
        });
      };
      // Idle keep-alive connections (none in flight) end now; the rest when their answer comes.
      if (open === 0) finish();
    }, spec.seconds * 1000);
  });
}

/** wrk, when installed: throughput and latency only (it cannot tell which process answered). */
function wrk(spec: LoadSpec): LoadResult {
  const args = ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--latency'];
  if (spec.kind === 'churn') args.push('-H', 'Connection: close');
  const out = spawnSync('wrk', [...args, `http://127.0.0.1:${spec.port}/`], { encoding: 'utf8' });
  const num = (re: RegExp): number => Number(re.exec(out.stdout)?.[1] ?? 0);
  const ms = (re: RegExp): number => {
    const m = re.exec(out.stdout);
    if (m === null) return 0;
    const scale = m[2] === 'us' ? 1e-3 : m[2] === 's' ? 1e3 : 1;
    return Number(m[1]) * scale;
  };
  return {
    loader: 'wrk',
    requests: num(/(\d+) requests in/),
    // Socket errors: connect N, read N, write N, timeout N (non-2xx are counted apart).
    errors: [...(/Socket errors: (.*)/.exec(out.stdout)?.[1] ?? '').matchAll(/\d+/g)].reduce((a, m) => a + Number(m[0]), 0),
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    seconds: spec.seconds,
    p50: ms(/50%\s+([\d.]+)(us|ms|s)/),
    p99: ms(/99%\s+([\d.]+)(us|ms|s)/),
    byPid: {},
    connectionsByPid: {},
  };
}

/** Opens `count` idle TCP connections (they send nothing) and returns a function that closes them. */
export async function openIdle(port: number, count: number): Promise<() => void> {
  const sockets: Socket[] = [];
  const batch = 250;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, count - i) }, () => new Promise<void>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve());
        s.on('error', () => resolve());
        sockets.push(s);
      })),
    );
  }
  return () => {
    for (const s of sockets) s.destroy();
  };
}

/** Runs one load and returns what it measured. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const closeIdle = spec.idle !== undefined && spec.idle > 0 ? await openIdle(spec.port, spec.idle) : () => {};
  try {
    // wrk has no fixed rate and one request path: fairness and mixed keep the bench's own loaders.
    if (spec.loader === 'wrk' && spec.kind !== 'keep-alive-and-churn' && spec.rate === undefined && !(spec.burnFraction !== undefined && spec.burnFraction > 0)) return wrk(spec);
    if (spec.kind === 'keep-alive-and-churn') return await clients(spec);
    return spec.kind === 'churn' ? await churn(spec) : await keepAlive(spec);
  } finally {
    closeIdle();
  }
}

/** True when `wrk` is on the PATH. */
export function wrkInstalled(): boolean {
  return spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
}
