import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { get, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

const listenApp = fileURLToPath(new URL('./fixtures/listen-3999.mjs', import.meta.url));
const instanceApp = fileURLToPath(new URL('./fixtures/instance.mjs', import.meta.url));
let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

/** The ready workers' instance numbers by pid, from the primary's own view. */
function instances(current: TestPrimary): number[] {
  return current.primary
    .workers()
    .filter((w) => w.state === 'ready')
    .map((w) => w.instance)
    .sort();
}

describe('HANDOFF_INSTANCE', () => {
  it('numbers the slots 0..n-1 and keeps each number across a crash, a reload and a scale down then up', async () => {
    const lines: string[] = [];
    current = await startTestPrimary({ worker: instanceApp, workers: 2, output: 'pipe', restart: { initialDelay: 10, maxDelay: 50 } });
    const { primary, port } = current;
    primary.on('worker:output', (_w, { stream, chunk }) => stream === 'stdout' && lines.push(...chunk.toString().split('\n').filter(Boolean)));
    expect(instances(current)).toEqual([0, 1]);
    for (const w of primary.workers()) expect(w.spawnedAt).toBeLessThanOrEqual(Date.now());

    // A crash (whichever worker takes /exit): its replacement has the same number.
    await get(port, { path: '/exit' });
    await waitFor(() => primary.workers().filter((w) => w.state === 'ready').length === 2 && primary.workers().some((w) => w.restarts === 1), 10_000, 20, 'the replacement');
    expect(instances(current)).toEqual([0, 1]);

    await primary.reload();
    expect(instances(current)).toEqual([0, 1]);

    await primary.scale(1);
    expect(instances(current)).toEqual([0]);
    await primary.scale(3);
    expect(instances(current)).toEqual([0, 1, 2]);

    // Each worker saw its own number in its environment.
    for (const w of primary.workers()) {
      await waitFor(() => lines.includes(`instance ${w.instance} pid ${w.pid} up`), 5000, 20, `worker ${w.pid}'s line`);
    }
  });
});

describe('HANDOFF_INSTANCES', () => {
  it('tells each worker the count the primary aims at: the initial one, then each scale for the workers forked after it', async () => {
    current = await startTestPrimary({ worker: instanceApp, workers: 2, restart: { initialDelay: 10, maxDelay: 50 } });
    const { primary, port } = current;
    /** What each ready worker was told, by slot: asked over HTTP until every ready worker answered. */
    const told = async (): Promise<string[]> => {
      const ready = primary.workers().filter((w) => w.state === 'ready').sort((a, b) => a.instance - b.instance);
      const answers = new Map<number, string>();
      for (let i = 0; i < 50 && answers.size < ready.length; i++) {
        const m = /^pid (\d+) (of \S+)$/.exec((await get(port, { path: '/count' })).body);
        if (m !== null) answers.set(Number(m[1]), m[2]!);
      }
      return ready.map((w) => `${w.instance} ${answers.get(w.pid) ?? 'no answer'}`);
    };
    expect(await told()).toEqual(['0 of 2', '1 of 2']);

    await primary.scale(3);
    // The two forked before the scale keep what they were told; the new one is told 3.
    expect(await told()).toEqual(['0 of 2', '1 of 2', '2 of 3']);

    // A replacement (a crash) is told the count aimed at now.
    await get(port, { path: '/exit' });
    await waitFor(() => primary.workers().filter((w) => w.state === 'ready').length === 3 && primary.workers().some((w) => w.restarts === 1), 10_000, 20, 'the replacement');
    const replaced = primary.workers().find((w) => w.restarts === 1)!;
    expect(await told()).toContain(`${replaced.instance} of 3`);

    await primary.scale(1);
    await primary.reload();
    expect(await told()).toEqual(['0 of 1']);
  });
});

describe('dropIn.host', () => {
  it("binds an app's listen() that names no host on dropIn.host", async () => {
    current = await startTestPrimary({ worker: listenApp, workers: 1, dropIn: { host: '127.0.0.1', ports: { 3999: 0 } }, listen: undefined });
    const address = current.primary.addresses()[0] as { host: string; port: number };
    expect(address.host).toBe('127.0.0.1');
    expect((await get(address.port)).body).toMatch(/^listening/);
  });
});

describe('stats()', () => {
  it('counts the connections waiting for a worker, then the 503 the primary answered when none came in time', async () => {
    current = await startTestPrimary({ worker: app, workers: 1, queueTimeout: 300, restart: { initialDelay: 3000, maxDelay: 3000 } });
    const { primary, port } = current;
    expect(primary.stats()).toMatchObject({ queued: 0, rejected: { 'queue-full': 0, 'queue-timeout': 0, closing: 0, attempts: 0 } });
    // The only worker exits; its replacement waits 3 s, so the next connection finds nobody ready.
    await get(port, { path: '/exit' });
    await waitFor(() => primary.workers().length === 0, 5000, 10, 'the worker to exit');
    const waiting = get(port);
    await waitFor(() => primary.stats().queued === 1, 2000, 5, 'the connection to wait');
    const res = await waiting;
    expect(res.status).toBe(503);
    expect(primary.stats()).toMatchObject({ queued: 0, rejected: { 'queue-full': 0, 'queue-timeout': 1, closing: 0, attempts: 0 } });
  });
});
