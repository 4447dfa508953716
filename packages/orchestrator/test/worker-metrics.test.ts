import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';
import { get, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';

const metricsApp = fileURLToPath(new URL('./fixtures/metrics-source.mjs', import.meta.url));
let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

describe('primary.workerMetrics()', () => {
  it("answers each worker's exposed metrics, parsed, with the worker they came from", async () => {
    current = await startTestPrimary({ worker: metricsApp, workers: 2, env: { HANDOFF_TEST_SOURCE: 'ok' } });
    const answers = await current.primary.workerMetrics();
    expect(answers.map((a) => a.status)).toEqual(['ok', 'ok']);
    expect(answers.map((a) => (a.metrics as Array<{ values: Array<{ value: number }> }>)[0]!.values[0]!.value).sort()).toEqual([0, 1]);
    expect(answers.map((a) => a.worker.instance).sort()).toEqual([0, 1]);
  });

  it("says 'none' for an app that exposes nothing and 'error' for a registry that throws", async () => {
    current = await startTestPrimary({ worker: metricsApp, workers: 1 });
    expect((await current.primary.workerMetrics()).map((a) => a.status)).toEqual(['none']);
    await current[Symbol.asyncDispose]();
    current = await startTestPrimary({ worker: metricsApp, workers: 1, env: { HANDOFF_TEST_SOURCE: 'throws' } });
    const [answer] = await current.primary.workerMetrics();
    expect(answer).toMatchObject({ status: 'error', error: 'registry broke' });
  });

  it("resolves within its timeout when a worker's event loop hangs, reporting that worker 'timeout'", async () => {
    current = await startTestPrimary({ worker: metricsApp, workers: 2, env: { HANDOFF_TEST_SOURCE: 'ok' } });
    const hangMs = 2000;
    await get(current.port, { path: `/hang?ms=${hangMs}`, close: true });
    const t0 = Date.now();
    const answers = await current.primary.workerMetrics({ timeout: 200 });
    // Resolved before the hung worker could answer: its timeout ended the wait, not the hang.
    expect(Date.now() - t0).toBeLessThan(hangMs);
    expect(answers.map((a) => a.status).sort()).toEqual(['ok', 'timeout']);
  });

  it('refuses a timeout out of range, and answers nothing before start()', async () => {
    expect(await createPrimary({ worker: metricsApp, workers: 1, listen: 0, handleSignals: false }).workerMetrics()).toEqual([]);
    current = await startTestPrimary({ worker: metricsApp, workers: 1 });
    await expect(current.primary.workerMetrics({ timeout: 0 })).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION' });
    await expect(current.primary.workerMetrics({ timeout: 1.5 })).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION' });
  });
});
