import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { roundRobin, sharedHandle } from '@handoff/policies';
import { get, isAlive, killAll, pidOf, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';

const worker = fileURLToPath(new URL('../dist/worker.js', import.meta.url));

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

async function twentyRequests(port: number): Promise<number[]> {
  const pids: number[] = [];
  for (let i = 0; i < 20; i++) {
    const res = await get(port, { close: true });
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^handled by child, pid: \d+\n$/);
    pids.push(pidOf(res.body));
  }
  return pids;
}

describe('the demo server', () => {
  it('round-robin: 20 Connection: close requests alternate strictly between the 2 workers', async () => {
    current = await startTestPrimary({ worker, workers: 2, policy: roundRobin() });
    const pids = await twentyRequests(current.port);
    const workerPids = current.primary.workers().map((w) => w.pid);
    expect(new Set(pids)).toEqual(new Set(workerPids));
    for (let i = 2; i < pids.length; i++) expect(pids[i]).toBe(pids[i - 2]);
    expect(pids[0]).not.toBe(pids[1]);
  });

  it('shared: 20 Connection: close requests all succeed, served by the workers', async () => {
    current = await startTestPrimary({ worker, workers: 2, policy: sharedHandle() });
    const pids = await twentyRequests(current.port);
    const workerPids = new Set(current.primary.workers().map((w) => w.pid));
    for (const pid of pids) expect(workerPids.has(pid)).toBe(true);
  });

  for (const [name, policy] of [
    ['round-robin', roundRobin],
    ['shared', sharedHandle],
  ] as const) {
    it(`${name}: a worker killed with SIGKILL is replaced and requests keep succeeding`, async () => {
      current = await startTestPrimary({ worker, workers: 2, policy: policy() });
      const [victim] = current.primary.workers();
      process.kill(victim!.pid, 'SIGKILL');
      await waitFor(() => !isAlive(victim!.pid), 5000, 20, 'the killed worker to exit');
      // Requests succeed while the replacement starts (the survivor serves them)…
      for (let i = 0; i < 5; i++) expect((await get(current.port, { close: true })).status).toBe(200);
      // …and the pool is back to 2 ready workers, the victim not among them.
      await waitFor(() => current!.primary.workers().filter((w) => w.state === 'ready').length === 2, 10_000, 20, 'the replacement to be ready');
      const pids = current.primary.workers().map((w) => w.pid);
      expect(pids).not.toContain(victim!.pid);
      const served = new Set((await twentyRequests(current.port)).map(String));
      if (name === 'round-robin') expect(served.size).toBe(2);
    });

    it(`${name}: close() leaves no child process behind`, async () => {
      const started = await startTestPrimary({ worker, workers: 2, policy: policy() });
      current = started;
      await get(started.port);
      const pids = [...started.pids];
      expect(pids).toHaveLength(2);
      await started.primary.close();
      expect(started.primary.state).toBe('stopped');
      for (const pid of pids) expect(isAlive(pid)).toBe(false);
      killAll(pids);
    });
  }
});
