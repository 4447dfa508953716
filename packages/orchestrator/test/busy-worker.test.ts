// A worker busy running code (a CPU-heavy request) takes no connection until it is done. Under a
// policy with `oneInFlight` (least-connections, power-of-two-choices) the primary sends such a worker
// at most the one batch it cannot know is stuck (the connections of one turn of the primary's loop,
// at most its fair share of them; one connection on IPC), and keeps the rest for a worker that
// takes them: they are served, or answered 503 past `queueTimeout`, never left behind the busy one.
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { leastConnections, powerOfTwoChoices, roundRobin, type Policy, type PrimaryPolicy } from '@handoff/policies';
import { get, pidOf, startTestPrimary, type TestPrimary, type TestResponse } from '../../../tools/testing/src/index.js';
import { app, block } from './helpers.js';

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

async function start(policy: Policy, workers: number, queueTimeout?: number): Promise<TestPrimary> {
  current = await startTestPrimary({ worker: app, workers, policy, ...(queueTimeout === undefined ? {} : { queueTimeout }) });
  return current;
}

/**
 * The primary's dispatches from now on (it runs in this process), each with the turn of its event
 * loop it happened in: the turn moves on in the check phase after a dispatch, where the primary's
 * native links flush what the turn queued.
 */
function watchDispatches(): { readonly events: Array<{ worker: number; turn: number }>; stop(): void } {
  const events: Array<{ worker: number; turn: number }> = [];
  let turn = 0;
  let ticking = false;
  const onDispatch = (message: unknown): void => {
    if (!ticking) {
      ticking = true;
      setImmediate(() => {
        ticking = false;
        turn++;
      });
    }
    events.push({ worker: (message as { worker: number }).worker, turn });
  };
  subscribe('handoff:connection:dispatch', onDispatch);
  return { events, stop: () => unsubscribe('handoff:connection:dispatch', onDispatch) };
}

describe('a worker busy running code', () => {
  for (const [name, policy] of [
    ['least-connections', leastConnections],
    ['power-of-two-choices', powerOfTwoChoices],
  ] as const) {
    it(`${name}: gets at most one batch of the connections that arrive while it blocks; the other worker serves the rest`, async () => {
      const p = await start(policy(), 2);
      const busy = block(p.port, 800);
      await busy.started;
      const dispatches = watchDispatches();
      const responses = await Promise.all(Array.from({ length: 20 }, () => get(p.port)));
      dispatches.stop();
      const blocked = pidOf((await busy.done).body);
      for (const r of responses) expect(r.status).toBe(200);
      const worker = p.primary.workers().find((w) => w.pid === blocked)!;
      const onBlocked = responses.filter((r) => pidOf(r.body) === blocked).length;
      // One turn's connections at most (one batch), at most its fair share of them...
      expect(new Set(dispatches.events.filter((d) => d.worker === worker.id).map((d) => d.turn)).size).toBeLessThanOrEqual(1);
      expect(onBlocked).toBeLessThanOrEqual(10);
      // ...and on IPC, where each connection travels alone, the one it could not know was stuck.
      if (worker.transport === 'ipc') expect(onBlocked).toBeLessThanOrEqual(1);
    });
  }

  it('round-robin (no oneInFlight) keeps its strict turn: half of them wait for the busy worker', async () => {
    const p = await start(roundRobin(), 2);
    const busy = block(p.port, 500);
    await busy.started;
    const responses = await Promise.all(Array.from({ length: 20 }, () => get(p.port)));
    const blocked = pidOf((await busy.done).body);
    expect(responses.filter((r) => pidOf(r.body) === blocked).length).toBe(10);
  });

  it('with every worker busy, connections wait in the primary and are served once one is free', async () => {
    const p = await start(leastConnections(), 1);
    const busy = block(p.port, 400);
    await busy.started;
    const responses = await Promise.all(Array.from({ length: 5 }, () => get(p.port)));
    expect((await busy.done).status).toBe(200);
    for (const r of responses) expect(r.status).toBe(200);
  });

  it('past queueTimeout, a connection waiting for a free worker is answered 503 with Retry-After', async () => {
    const p = await start(leastConnections(), 1, 200);
    const busy = block(p.port, 1500);
    await busy.started;
    const dispatches = watchDispatches();
    const first = get(p.port);
    // Once it has gone, and its turn of the primary's loop has ended, two more.
    await expect.poll(() => dispatches.events.length, { timeout: 5000, interval: 5 }).toBe(1);
    await new Promise((resolve) => setImmediate(resolve));
    const responses = await Promise.all([first, get(p.port), get(p.port)]);
    dispatches.stop();
    expect((await busy.done).status).toBe(200);
    // The first was sent to the worker before the primary could know it was busy: it is served late.
    // The other two came in a later turn and waited in the primary, which answered them itself.
    expect(responses.map((r) => r.status).sort()).toEqual([200, 503, 503]);
    for (const r of responses.filter((r) => r.status === 503)) expect(r.headers['retry-after']).toBeDefined();
  });

  it('a connection that cannot be placed yet does not hold up those of another listener behind it', async () => {
    // Listener 0's connections are declined (as a drop-in listener no ready worker has bound would
    // be); listener 1's are placed one in flight at a time.
    const lc = leastConnections();
    const policy: PrimaryPolicy = { ...lc, name: 'listener-1-only', pick: (workers, info) => (info.listener === 0 ? undefined : lc.pick(workers, info)) };
    current = await startTestPrimary({
      worker: app,
      workers: 1,
      policy,
      queueTimeout: 3000,
      listen: [
        { port: 0, host: '127.0.0.1' },
        { port: 0, host: '127.0.0.1' },
      ],
    });
    const [zero, one] = current.primary.addresses().map((a) => ('port' in a ? a.port : 0));
    const busy = block(one!, 300);
    await busy.started;
    const waiting = get(zero!); // queued at the head, declined until queueTimeout
    await new Promise((r) => setTimeout(r, 50));
    const first = get(one!); // sent to the busy worker: it cannot know yet
    await new Promise((r) => setTimeout(r, 50));
    const second = get(one!); // queued behind listener 0's: every worker has one in flight
    expect((await busy.done).status).toBe(200);
    expect((await first).status).toBe(200);
    // Served once the worker is free, well before listener 0's connection times out (3 s).
    const served = await second;
    expect(served.status).toBe(200);
    expect((await waiting).status).toBe(503);
    expect(current.primary.workers()).toHaveLength(1);
  });
});
