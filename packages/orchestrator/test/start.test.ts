import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary, HandoffError, HandoffPrimaryError, type Primary } from '@handoff/orchestrator';
import { sharedHandle } from '@handoff/policies';
import { get, isAlive, killAll, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app, throws } from './helpers.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Starts a primary expected to fail; records its pids so cleanup can kill stragglers. */
async function startFailing(primary: Primary): Promise<{ error: HandoffPrimaryError; spawned: number[] }> {
  const spawned: number[] = [];
  primary.on('worker:spawn', (w) => spawned.push(w.pid));
  cleanups.push(() => killAll(spawned));
  const error = await primary.start().then(
    () => {
      throw new Error('start() resolved');
    },
    (e: unknown) => e as HandoffPrimaryError,
  );
  return { error, spawned };
}

function occupy(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

describe('start()', () => {
  for (const mode of ['primary', 'shared'] as const) {
    it(`fails with HANDOFF_ERR_PORT_IN_USE before forking any worker when the port is taken (mode ${mode})`, async () => {
      const { server, port } = await occupy();
      cleanups.push(() => server.close());
      const primary = createPrimary({ worker: app, workers: 2, listen: { port, host: '127.0.0.1' }, policy: mode === 'shared' ? sharedHandle() : undefined });
      const { error, spawned } = await startFailing(primary);
      expect(error).toBeInstanceOf(HandoffError);
      expect(error.code).toBe('HANDOFF_ERR_PORT_IN_USE');
      expect(error.message).toContain(`port ${port} is in use`);
      expect(spawned).toEqual([]);
      expect(primary.state).toBe('stopped');
    });
  }

  it('fails with HANDOFF_ERR_WORKER_START_FAILED, the exit code and the stderr lines, when the worker throws at import', async () => {
    const primary = createPrimary({ worker: throws, workers: 2, listen: { port: 0, host: '127.0.0.1' } });
    const { error } = await startFailing(primary);
    expect(error.code).toBe('HANDOFF_ERR_WORKER_START_FAILED');
    expect(error.details?.exitCode).toBe(1);
    expect(error.details?.stderr).toContain('boom: the database URL is missing');
    expect(error.message).toContain('boom: the database URL is missing');
    expect(primary.state).toBe('stopped');
  });

  it('fails with HANDOFF_ERR_READY_TIMEOUT when a worker never says it is ready', async () => {
    const primary = createPrimary({ worker: app, workers: 1, listen: { port: 0, host: '127.0.0.1' }, readyTimeout: 500, env: { READY_DELAY_MS: 'never' } });
    const { error, spawned } = await startFailing(primary);
    expect(error.code).toBe('HANDOFF_ERR_READY_TIMEOUT');
    expect(error.message).toContain('500 ms');
    expect(spawned).toHaveLength(1);
  });

  it('stops with HANDOFF_ERR_ABORTED, leaving no child, when its AbortSignal fires before the workers are ready', async () => {
    const primary = createPrimary({ worker: app, workers: 2, listen: { port: 0, host: '127.0.0.1' }, env: { READY_DELAY_MS: 'never' } });
    const abort = new AbortController();
    primary.on('worker:spawn', () => abort.abort(new Error('the operator gave up')));
    const spawned: number[] = [];
    primary.on('worker:spawn', (w) => spawned.push(w.pid));
    cleanups.push(() => killAll(spawned));
    const error = await primary.start({ signal: abort.signal }).then(
      () => {
        throw new Error('start() resolved');
      },
      (e: unknown) => e as HandoffPrimaryError,
    );
    expect(error.code).toBe('HANDOFF_ERR_ABORTED');
    expect((error.cause as Error).message).toBe('the operator gave up');
    expect(primary.state).toBe('stopped');
    for (const pid of spawned) expect(isAlive(pid)).toBe(false);
  });

  it('waits for a worker that calls ready() later, and serves once it has', async () => {
    let t: TestPrimary | undefined;
    const before = Date.now();
    t = await startTestPrimary({ worker: app, workers: 1, env: { READY_DELAY_MS: '300' } });
    cleanups.push(() => t?.[Symbol.asyncDispose]());
    expect(Date.now() - before).toBeGreaterThanOrEqual(250);
    expect((await get(t.port)).status).toBe(200);
  });

  it('validates options up front with HANDOFF_ERR_INVALID_OPTION naming the option', () => {
    const bad: Array<[object, RegExp]> = [
      [{ listen: 3000 }, /option worker is required/],
      [{ worker: app }, /option listen is required/],
      [{ worker: app, listen: 70000 }, /listen.port must be an integer in 0..65535/],
      [{ worker: app, listen: 0, workers: 0 }, /option workers must be an integer >= 1/],
      [{ worker: app, listen: 0, policy: { mode: 'nope' } }, /option policy must be a policy object/],
      [{ worker: app, listen: [{ port: 0 }, { port: 'x' }] }, /listen\[1\].port/],
      [{ worker: app, listen: 0, queueTimeout: -1 }, /queueTimeout/],
    ];
    for (const [options, message] of bad) {
      expect(() => createPrimary(options as never)).toThrowError(message);
      try {
        createPrimary(options as never);
      } catch (error) {
        expect((error as HandoffPrimaryError).code).toBe('HANDOFF_ERR_INVALID_OPTION');
      }
    }
  });

  it("workers: 'auto' forks one worker per available CPU", async () => {
    const { availableParallelism } = await import('node:os');
    const t = await startTestPrimary({ worker: app, workers: 'auto' });
    cleanups.push(() => t[Symbol.asyncDispose]());
    expect(t.primary.workers()).toHaveLength(availableParallelism());
  });
});
