// Hostile workers (issue 15, item 7): a worker runs untrusted app code, which can send the primary
// valid handoff messages of its own. One that floods it, one that asks for address after address,
// one that spoofs its load: the primary stays responsive, its decisions stay bounded, and the other
// workers keep getting their share of the connections.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { get, pidOf, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';

const hostile = fileURLToPath(new URL('./fixtures/hostile.mjs', import.meta.url));

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

/** `n` requests, 4 at a time, on fresh connections: the pid that answered each, and the slowest. */
async function spread(port: number, n: number): Promise<{ byPid: Map<number, number>; failed: number; slowestMs: number }> {
  const byPid = new Map<number, number>();
  let failed = 0;
  let slowestMs = 0;
  let left = n;
  const lane = async (): Promise<void> => {
    while (left-- > 0) {
      const t = performance.now();
      try {
        const r = await get(port, { timeout: 5000 });
        if (r.status !== 200) failed++;
        else byPid.set(pidOf(r.body), (byPid.get(pidOf(r.body)) ?? 0) + 1);
      } catch {
        failed++;
      }
      slowestMs = Math.max(slowestMs, performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: 4 }, lane));
  return { byPid, failed, slowestMs };
}

describe('a hostile worker', () => {
  it('that floods the primary with valid load reports: the primary stays responsive and the others get their share', async () => {
    current = await startTestPrimary({ worker: hostile, workers: 3, env: { HOSTILE_WORKER: '1', HOSTILE: 'flood' } });
    const { primary, port } = current;
    const [, a, b] = primary.workers();
    await new Promise((r) => setTimeout(r, 500));
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const heap0 = process.memoryUsage().heapUsed;
    const { byPid, failed, slowestMs } = await spread(port, 150);
    delay.disable();
    expect(failed).toBe(0);
    // Round robin: a third each, whatever the flood.
    expect(byPid.get(a!.pid) ?? 0).toBeGreaterThanOrEqual(40);
    expect(byPid.get(b!.pid) ?? 0).toBeGreaterThanOrEqual(40);
    expect(slowestMs).toBeLessThan(1000);
    expect(delay.max / 1e6).toBeLessThan(250);
    expect(process.memoryUsage().heapUsed - heap0).toBeLessThan(64 * 1024 * 1024);
  });

  it('that asks to bind addresses without drop-in: refused, each an error event; the primary binds nothing and serves on', async () => {
    current = await startTestPrimary({ worker: hostile, workers: 2, env: { HOSTILE_WORKER: '1', HOSTILE: 'bind', BIND_COUNT: '300' } });
    const { primary, port } = current;
    const errors: string[] = [];
    primary.on('error', (e) => errors.push(e.code));
    await new Promise((r) => setTimeout(r, 1000));
    expect(primary.addresses()).toHaveLength(1);
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors)).toEqual(new Set(['HANDOFF_ERR_INVALID_OPTION']));
    const { failed } = await spread(port, 20);
    expect(failed).toBe(0);
  });

  it('that asks to bind address after address in drop-in mode: the primary binds at most its cap of listeners for the apps', async () => {
    current = await startTestPrimary({ worker: hostile, workers: 2, dropIn: { host: '127.0.0.1' }, listen: undefined as never, env: { HOSTILE_WORKER: '1', HOSTILE: 'bind', BIND_COUNT: '300', BIND_FROM: '41000' } });
    const { primary } = current;
    await new Promise((r) => setTimeout(r, 2000));
    // 64 at most (what the honest worker's serve() asked for among them); the rest were refused.
    expect(primary.addresses().length).toBe(64);
    expect(primary.workers().map((w) => w.state)).toEqual(['ready', 'ready']);
  });

  it('that spoofs its load (every connection closed, no load): under round robin it gets no more than its share', async () => {
    current = await startTestPrimary({ worker: hostile, workers: 3, env: { HOSTILE_WORKER: '1', HOSTILE: 'spoof' } });
    const { primary, port } = current;
    const [liar, a, b] = primary.workers();
    await new Promise((r) => setTimeout(r, 300));
    const { byPid, failed } = await spread(port, 90);
    expect(failed).toBe(0);
    expect(byPid.get(liar!.pid) ?? 0).toBeLessThanOrEqual(31);
    expect(byPid.get(a!.pid) ?? 0).toBeGreaterThanOrEqual(29);
    expect(byPid.get(b!.pid) ?? 0).toBeGreaterThanOrEqual(29);
  });
});
