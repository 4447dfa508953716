import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { balancedShared } from '@handoff/policies';
import { pidOf, runLoad, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app, block } from './helpers.js';

let current: TestPrimary | undefined;
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

/** Opens `count` keep-alive connections at once (one agent each), one request on each; returns the pid that served each. */
async function burst(port: number, count: number): Promise<number[]> {
  return Promise.all(
    Array.from({ length: count }, () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      return new Promise<number>((resolve, reject) => {
        const req = request({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(Number(/pid: (\d+)/.exec(body)?.[1])));
        });
        req.on('error', reject);
        req.end();
      });
    }),
  );
}

/**
 * While one of 2 workers blocks its loop, opens `count` keep-alive connections one after the other
 * (each held open, so the other worker's count climbs past its share). Returns who served each, and
 * for each whether it was answered before the blocked worker was done.
 */
async function whileOneBlocks(port: number, count: number): Promise<{ blocked: number; served: Array<{ pid: number; early: boolean }> }> {
  // Two held connections on each worker to start from.
  await burst(port, 4);
  const busy = block(port, 4000);
  let blockDone = false;
  const done = busy.done.then((res) => {
    blockDone = true;
    return pidOf(res.body);
  });
  await busy.started;
  const served: Array<{ pid: number; early: boolean }> = [];
  for (let i = 0; i < count; i++) {
    const [pid] = await burst(port, 1);
    served.push({ pid: pid!, early: !blockDone });
  }
  return { blocked: await done, served };
}

/** Churn (a new connection per request) from `concurrency` loops for `ms`; resolves with what the loops counted. */
async function churnFor(port: number, concurrency: number, ms: number): ReturnType<typeof runLoad> {
  const stop = new AbortController();
  const churn = runLoad({ port, concurrency, keepAlive: false, signal: stop.signal });
  await new Promise((r) => setTimeout(r, ms));
  stop.abort();
  return churn;
}

function busiest(pids: number[]): number {
  const counts = new Map<number, number>();
  for (const p of pids) counts.set(p, (counts.get(p) ?? 0) + 1);
  return Math.max(...counts.values());
}

describe('balancedShared()', () => {
  it('holds the busiest of 2 workers to 55 % of 64 keep-alive connections opened at once, twice in a row', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, policy: balancedShared() });
    const first = await burst(current.port, 64);
    expect(new Set(first).size).toBe(2);
    expect(busiest(first)).toBeLessThanOrEqual(35);
    for (const a of agents.splice(0)) a.destroy();
    // Once those close, the limits come down, and a second burst spreads as well.
    const second = await burst(current.port, 64);
    expect(busiest(second)).toBeLessThanOrEqual(35);
  });

  it('with busyAfter, is work-conserving: a worker over its share accepts again while the other blocks its loop', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, policy: balancedShared({ busyAfter: 20 }) });
    const { blocked, served } = await whileOneBlocks(current.port, 12);
    // Every one served by the other worker, none left waiting for the blocked one.
    expect(served.map((s) => s.early)).toEqual(served.map(() => true));
    expect(served.filter((s) => s.pid === blocked)).toEqual([]);
  });

  it('by default (busyAfter 0), a worker over its share waits, however busy the other (the strict spread)', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, policy: balancedShared() });
    const { served } = await whileOneBlocks(current.port, 12);
    // The other worker stops at its share: some connection waited for the blocked one.
    expect(served.some((s) => !s.early)).toBe(true);
  });

  it('lets the kernel spread churn, and takes up steering once it stops: a burst of 64 keep-alive connections after it holds the busiest of 2 to 55 %', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, policy: balancedShared() });
    // Connections that live a few ms, for many turnover windows: the steering lets go.
    const result = await churnFor(current.port, 16, 1000);
    expect({ failed: result.failed, non2xx: result.non2xx }).toEqual({ failed: 0, non2xx: 0 });
    // Two windows with nothing turned over (it ticks once a window while it lets go), with room for a
    // loaded machine's late timers; then steering holds a burst as it does on a fresh pool.
    await new Promise((r) => setTimeout(r, 600));
    const pids = await burst(current.port, 64);
    expect(new Set(pids).size).toBe(2);
    expect(busiest(pids)).toBeLessThanOrEqual(35);
  });

  it('holds each of 4 workers within 1.2x its fair share, and serves churn with no failure', async () => {
    current = await startTestPrimary({ worker: app, workers: 4, policy: balancedShared() });
    const pids = await burst(current.port, 64);
    expect(busiest(pids)).toBeLessThanOrEqual(Math.floor(16 * 1.2));
    const result = await churnFor(current.port, 8, 1500);
    expect({ failed: result.failed, non2xx: result.non2xx }).toEqual({ failed: 0, non2xx: 0 });
    expect(result.ok).toBeGreaterThan(50);
  });
});
