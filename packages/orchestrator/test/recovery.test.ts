import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diagnosticsChannels } from '@handoff/orchestrator';
import { get, isAlive, pidOf, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

let current: TestPrimary | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-test-'));
  dirs.push(dir);
  return dir;
}

describe('crash recovery', () => {
  it('re-dispatches a connection whose worker never received it (event loop stuck, then killed)', async () => {
    // Worker 1's event loop stops 200 ms after it attaches: the connection round-robin sends it
    // waits in its channel, unacknowledged, until the heartbeat kills it.
    current = await startTestPrimary({ worker: app, workers: 2, env: { HANG_WORKER: '1' }, heartbeatInterval: 100, heartbeatTimeout: 1000 });
    const redispatched: unknown[] = [];
    const onRedispatch = (m: unknown): void => void redispatched.push(m);
    diagnosticsChannels.redispatch.subscribe(onRedispatch);
    try {
      const [first, second] = current.primary.workers();
      expect(first!.id).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      const res = await get(current.port, { timeout: 20_000 });
      expect(res.status).toBe(200);
      expect(pidOf(res.body)).toBe(second!.pid);
      expect(redispatched).toMatchObject([{ from: 1, reason: 'worker-exit' }]);
      await waitFor(() => !isAlive(first!.pid), 5000, 20, 'worker 1 to be gone');
    } finally {
      diagnosticsChannels.redispatch.unsubscribe(onRedispatch);
    }
  });

  it('replaces a crashed worker after a backoff that grows with repeated crashes, and reports a crash loop once', async () => {
    current = await startTestPrimary({
      worker: app,
      workers: 1,
      restart: { initialDelay: 200, maxDelay: 5000, crashLoopCount: 3, crashLoopWindow: 30_000 },
    });
    const { primary } = current;
    const loops: unknown[] = [];
    primary.on('worker:crash-loop', (info) => loops.push(info));
    const gaps: number[] = [];
    for (let crash = 1; crash <= 3; crash++) {
      const [worker] = primary.workers();
      await get(current.port, { path: '/exit' }).catch(() => undefined);
      const exitedAt = Date.now();
      await waitFor(() => primary.workers().some((w) => w.id !== worker!.id && w.state === 'ready'), 15_000, 10, `replacement #${crash}`);
      gaps.push(Date.now() - exitedAt);
      expect(primary.workers()[0]!.restarts).toBe(crash);
    }
    // Equal jitter: the k-th delay is in [initial*2^(k-1)/2, initial*2^(k-1)].
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[1]).toBeGreaterThanOrEqual(200);
    expect(gaps[2]).toBeGreaterThanOrEqual(400);
    expect(loops).toHaveLength(1);
    expect(loops[0]).toMatchObject({ crashes: 3, windowMs: 30_000 });
    expect(primary.state).toBe('running');
  });

  it('answers 503 with Retry-After within queueTimeout when every worker is dead and crash-looping', async () => {
    const dir = tempDir();
    const crashFile = join(dir, 'crash');
    current = await startTestPrimary({
      worker: app,
      workers: 2,
      queueTimeout: 300,
      env: { CRASH_AT_START_FILE: crashFile },
      restart: { initialDelay: 50, maxDelay: 400, crashLoopCount: 3, crashLoopWindow: 10_000 },
    });
    const { primary } = current;
    let crashLoop = false;
    primary.on('worker:crash-loop', () => (crashLoop = true));
    // From now on every new worker crashes at start; then kill the ones serving.
    writeFileSync(crashFile, 'yes');
    for (const w of primary.workers()) process.kill(w.pid, 'SIGKILL');
    await waitFor(() => crashLoop, 15_000, 20, 'the crash loop');
    const timedOut = primary.stats().rejected['queue-timeout'];
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(current!.port, { timeout: 5000 })));
    for (const res of answers) {
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
    }
    // Each waited queueTimeout (300 ms) and was answered for it (no client timed out: get() would
    // have thrown), as the primary counts it: an event, not a bound on the machine's speed.
    expect(primary.stats().rejected['queue-timeout'] - timedOut).toBe(5);
    expect(primary.state).toBe('running');
    // Fix the cause: the workers come back and serve.
    rmSync(crashFile);
    await waitFor(() => primary.workers().filter((w) => w.state === 'ready').length === 2, 15_000, 20, 'recovery');
    expect((await get(current.port)).status).toBe(200);
  });

  it('answers 503 at once past maxPending', async () => {
    const dir = tempDir();
    const crashFile = join(dir, 'crash');
    current = await startTestPrimary({
      worker: app,
      workers: 1,
      queueTimeout: 10_000,
      maxPending: 2,
      env: { CRASH_AT_START_FILE: crashFile },
      restart: { initialDelay: 5000, maxDelay: 5000 },
    });
    writeFileSync(crashFile, 'yes');
    process.kill(current.primary.workers()[0]!.pid, 'SIGKILL');
    await waitFor(() => current!.primary.workers().length === 0, 5000, 10, 'the worker to be gone');
    const rejected: string[] = [];
    current.primary.on('connection:rejected', (r) => rejected.push(r.reason));
    // Two wait in the queue; the third is refused at once.
    const waiting = [get(current.port, { timeout: 20_000 }), get(current.port, { timeout: 20_000 })];
    // Let the two reach the primary's queue first (the queue is FIFO; no reply can come before).
    await new Promise((r) => setTimeout(r, 100));
    const third = await get(current.port, { timeout: 5000 });
    expect(third.status).toBe(503);
    expect(rejected).toEqual(['queue-full']);
    rmSync(crashFile);
    const served = await Promise.all(waiting);
    expect(served.map((r) => r.status)).toEqual([200, 200]);
  });
});
