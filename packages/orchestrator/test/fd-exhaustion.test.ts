// File-descriptor exhaustion (issue 15, item 1), in the primary and in a worker, each lowered to a
// few dozen descriptors with `prlimit --pid` once started: more concurrent clients than that. No
// crash, no busy loop (the process's CPU from /proc/<pid>/stat while saturated), what cannot be held
// is answered 503 (counted), and everything is served again once the descriptors are free.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { get, isAlive, killAll, waitFor } from '../../../tools/testing/src/index.js';
import { cpuMs, spawnChildPrimary, type ChildPrimary } from './child-primary.js';

let child: ChildPrimary | undefined;
afterEach(() => {
  if (child !== undefined) killAll([child.pid, ...child.pids]);
  child = undefined;
});

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
/**
 * Descriptors numbered below `limit`: all RLIMIT_NOFILE bounds. One the process inherited above
 * it (a test runner's pipe at fd 251, say) stays open and is not the process's doing.
 */
const fdsBelow = (pid: number, limit: number): number => readdirSync(`/proc/${pid}/fd`).filter((n) => Number(n) < limit).length;
const limit = (pid: number, n: number): void => void execFileSync('prlimit', ['--pid', String(pid), `--nofile=${n}:${n}`]);

/** One raw client: sends a request and says how it ended: 'status N', 'closed' (no answer), or the error code. */
function client(port: number, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(15_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    socket.on('data', (c) => (data += c.toString()));
    socket.on('close', () => resolve(data.startsWith('HTTP/1.1 ') ? `status ${data.slice(9, 12)}` : 'closed'));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      resolve(e.code ?? e.message);
      socket.destroy();
    });
  });
}

function tally(results: readonly string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const r of results) t[r] = (t[r] ?? 0) + 1;
  return t;
}

/** CPU ms the process used over `ms` of wall time. */
async function cpuOver(pid: number, ms: number): Promise<number> {
  const before = cpuMs(pid);
  await new Promise((r) => setTimeout(r, ms));
  return cpuMs(pid) - before;
}

describe('file-descriptor exhaustion', () => {
  it('in the primary: 200 clients, room for ~48 (every worker blocked): the rest answered 503 at once, counted; no spin; all served again after', async () => {
    child = await spawnChildPrimary({ WORKERS: '2', QUEUE_TIMEOUT: '10000' });
    const { pid, port } = child;
    const base = fds(pid);
    // The primary keeps 32 descriptors in reserve: room for about 48 held connections.
    const max = base + 80;
    limit(pid, max);
    // Sampled once a second: let it see the new limit.
    await new Promise((r) => setTimeout(r, 1100));
    const blocks = [client(port, '/block?ms=2500'), client(port, '/block?ms=2500')];
    await new Promise((r) => setTimeout(r, 300));
    const outcomes = Array.from({ length: 200 }, () => client(port));
    await new Promise((r) => setTimeout(r, 300));
    // Saturated: the held connections wait for the blocked workers, the rest were answered.
    const cpu = await cpuOver(pid, 1000);
    expect(cpu).toBeLessThan(300);
    expect(fdsBelow(pid, max)).toBeLessThanOrEqual(max);
    const results = tally([...(await Promise.all(blocks)), ...(await Promise.all(outcomes))]);
    const { stats } = await child.stats();
    // What it can hold waits and is served (200); past its budget the primary answers 503 at once;
    // once even the reserve is spent (a burst faster than the 503s close), the OS resets what it
    // cannot accept (libuv accepts and closes). No client hangs or times out.
    expect(Object.keys(results).filter((k) => !['status 200', 'status 503', 'ECONNRESET', 'closed'].includes(k))).toEqual([]);
    expect(results['status 200']).toBeGreaterThanOrEqual(40);
    expect(results['status 503']).toBeGreaterThan(0);
    expect((stats.rejected as Record<string, number>).descriptors).toBe(results['status 503']);
    expect(isAlive(pid)).toBe(true);
    const after = await Promise.all(Array.from({ length: 20 }, () => get(port)));
    expect(after.map((r) => r.status)).toEqual(Array(20).fill(200));
    await waitFor(() => Math.abs(fds(pid) - base) <= 2, 3000, 50, "the primary's descriptors back to their baseline");
  });

  it('in a worker: 100 clients, room for ~20: the worker lives (reading its RSS out of descriptors used to kill it), what it cannot take is answered 503, all served again after', async () => {
    child = await spawnChildPrimary({ WORKERS: '1', QUEUE_TIMEOUT: '2000' });
    const { port } = child;
    const wpid = (await child.stats()).workers[0]!.pid;
    const base = fds(wpid);
    limit(wpid, base + 20);
    const outcomes = Array.from({ length: 100 }, () => client(port, '/slow?ms=1000'));
    await new Promise((r) => setTimeout(r, 300));
    expect(await cpuOver(wpid, 700)).toBeLessThan(300);
    const results = tally(await Promise.all(outcomes));
    const { stats, workers } = await child.stats();
    expect(Object.keys(results).sort()).toEqual(['status 200', 'status 503']);
    expect(results['status 200']).toBeGreaterThanOrEqual(10);
    // The worker could not take the handle (Node answers NODE_HANDLE_NACK): the primary tried again,
    // then answered 503; or it waited for room in the worker's channel past queueTimeout.
    const rejected = stats.rejected as Record<string, number>;
    expect(rejected.attempts! + rejected['queue-timeout']!).toBe(results['status 503']);
    expect(workers.map((w) => w.pid)).toEqual([wpid]);
    expect(child.events.filter((e) => 'spawn' in e)).toHaveLength(1);
    const after = await Promise.all(Array.from({ length: 20 }, () => get(port)));
    expect(after.map((r) => r.status)).toEqual(Array(20).fill(200));
    await waitFor(() => Math.abs(fds(wpid) - base) <= 2, 3000, 50, "the worker's descriptors back to their baseline");
  });
});
