// A worker stopped, not dead (issue 15, item 6): SIGSTOP freezes it with its channel open, so no
// exit tells the primary. The heartbeat finds it, it is replaced, the connections it never received
// go to the others, and SIGCONT afterwards brings no second copy into service.
import { afterEach, describe, expect, it } from 'vitest';
import { get, isAlive, pidOf, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

describe('a worker stopped with SIGSTOP', () => {
  it('is found by the heartbeat and replaced; its unreceived connections are served elsewhere; SIGCONT brings no second copy', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, heartbeatInterval: 200, heartbeatTimeout: 1000 });
    const { primary, port } = current;
    const [stopped, other] = primary.workers();
    let unresponsive = 0;
    primary.on('worker:unresponsive', (w) => {
      if (w.pid === stopped!.pid) unresponsive++;
    });
    process.kill(stopped!.pid, 'SIGSTOP');
    // Round robin sends about half of these to the stopped worker: none of them may fail (each
    // client gives up after 8 s; the heartbeat finds the worker after about 1 s).
    const responses = await Promise.all(Array.from({ length: 10 }, (_, i) => get(port, { close: i % 2 === 0, timeout: 8000 })));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(responses.some((r) => pidOf(r.body) === stopped!.pid)).toBe(false);
    expect(unresponsive).toBe(1);
    await waitFor(() => !isAlive(stopped!.pid), 3000, 20, 'the stopped worker to be gone');
    try {
      process.kill(stopped!.pid, 'SIGCONT');
    } catch {
      // Gone already (SIGKILL ends a stopped process too).
    }
    await waitFor(() => primary.workers().filter((w) => w.state === 'ready').length === 2, 5000, 20, 'the replacement');
    await new Promise((r) => setTimeout(r, 500));
    const pool = primary.workers();
    expect(pool).toHaveLength(2);
    expect(pool.map((w) => w.pid)).not.toContain(stopped!.pid);
    expect(pool.map((w) => w.pid)).toContain(other!.pid);
    const after = await Promise.all(Array.from({ length: 6 }, () => get(port)));
    expect(after.every((r) => r.status === 200 && pidOf(r.body) !== stopped!.pid)).toBe(true);
  });
});
