// A worker busy running code (a CPU-heavy request) takes no connection until it is done. Under a
// policy with `oneInFlight` (least-connections, power-of-two-choices) the primary sends such a worker
// at most the one connection it cannot know is stuck, and keeps the rest for a worker that takes
// them: they are served, or answered 503 past `queueTimeout`, never left behind the busy one.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { leastConnections, powerOfTwoChoices, roundRobin, type Policy } from '@handoff/policies';
import { get, pidOf, startTestPrimary, type TestPrimary, type TestResponse } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

/**
 * Asks a worker to block its event loop for `ms`: `started` resolves once it has begun (the fixture
 * sends its headers just before it blocks), `done` with the whole response.
 */
function block(port: number, ms: number): { started: Promise<void>; done: Promise<TestResponse> } {
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  const done = new Promise<TestResponse>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/block?ms=${ms}&early=1`, agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (res) => {
      onStarted();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('block timed out')));
    req.on('error', reject);
    req.end();
  });
  return { started, done };
}

async function start(policy: Policy, workers: number, queueTimeout?: number): Promise<TestPrimary> {
  current = await startTestPrimary({ worker: app, workers, policy, ...(queueTimeout === undefined ? {} : { queueTimeout }) });
  return current;
}

describe('a worker busy running code', () => {
  for (const [name, policy] of [
    ['least-connections', leastConnections],
    ['power-of-two-choices', powerOfTwoChoices],
  ] as const) {
    it(`${name}: gets at most one of the connections that arrive while it blocks; the other worker serves the rest`, async () => {
      const p = await start(policy(), 2);
      const busy = block(p.port, 800);
      await busy.started;
      const responses = await Promise.all(Array.from({ length: 20 }, () => get(p.port)));
      const blocked = pidOf((await busy.done).body);
      for (const r of responses) expect(r.status).toBe(200);
      const onBlocked = responses.filter((r) => pidOf(r.body) === blocked).length;
      expect(onBlocked).toBeLessThanOrEqual(1);
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
    const responses = await Promise.all(Array.from({ length: 3 }, () => get(p.port)));
    expect((await busy.done).status).toBe(200);
    // The first was sent to the worker before the primary could know it was busy: it is served late.
    // The other two waited in the primary, and the primary answered them itself.
    expect(responses.map((r) => r.status).sort()).toEqual([200, 503, 503]);
    for (const r of responses.filter((r) => r.status === 503)) expect(r.headers['retry-after']).toBeDefined();
  });
});
