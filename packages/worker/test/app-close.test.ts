// What the primary does with a worker whose app closed its only server: the worker drains (its
// open connections finish), a replacement takes its slot (same HANDOFF_INSTANCE), nothing is lost
// meanwhile; while the primary itself closes, no replacement is forked.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary, type Primary, type WorkerInfo } from '../../orchestrator/dist/index.js';
import { roundRobin, sharedHandle, type Policy } from '../../policies/dist/index.js';
import { killAll, waitFor } from '../../../tools/testing/src/index.js';
import { getOnce } from './conformance/client.js';

const fixture = fileURLToPath(new URL('./fixtures/conformance-app.mjs', import.meta.url));
let primary: Primary | undefined;
const pids = new Set<number>();
let dir = '';

afterEach(async () => {
  await primary?.close({ timeout: 1000 });
  primary = undefined;
  killAll(pids);
  pids.clear();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

async function start(policy: Policy = roundRobin()): Promise<{ port: number; recycled: Array<{ worker: WorkerInfo; reason: string }> }> {
  dir = mkdtempSync(join(tmpdir(), 'handoff-app-close-'));
  const log = join(dir, 'log');
  writeFileSync(log, '');
  primary = createPrimary({ worker: fixture, workers: 2, listen: { port: 0, host: '127.0.0.1' }, env: { CONF_KIND: 'http', CONF_API: 'serve', CONF_LOG: log }, policy, handleSignals: false, drainTimeout: 3000 });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  const recycled: Array<{ worker: WorkerInfo; reason: string }> = [];
  primary.on('worker:recycle', (worker, { reason }) => recycled.push({ worker, reason }));
  await primary.start();
  return { port: (primary.addresses()[0] as { port: number }).port, recycled };
}

describe("the app's server.close() inside a worker", () => {
  for (const [mode, policy] of [
    ['primary', roundRobin()],
    ['shared', sharedHandle()],
  ] as const) {
    it(`mode ${mode}: the worker drains and a replacement takes its slot; every request is answered`, async () => {
      const { port, recycled } = await start(policy);
      const before = primary!.workers();
      const closer = await getOnce({ port, tls: false }, '/close');
      expect(closer === 'closed' ? 'closed' : closer.status).toBe(200);
      const closedPid = Number(closer !== 'closed' ? closer.headers['x-pid'] : 0);
      // While the replacement starts, every connection is served (by the other worker, or queued for the new one).
      const answers = await Promise.all(Array.from({ length: 20 }, () => getOnce({ port, tls: false }, '/')));
      expect(answers.every((a) => a !== 'closed' && a.status === 200 && Number(a.headers['x-pid']) !== closedPid)).toBe(true);
      await waitFor(() => primary!.workers().length === 2 && primary!.workers().every((w) => w.state === 'ready' && w.pid !== closedPid), 10_000, 20, 'the replacement');
      expect(recycled.map((r) => [r.worker.pid, r.reason])).toEqual([[closedPid, 'server-closed']]);
      const gone = before.find((w) => w.pid === closedPid)!;
      const fresh = primary!.workers().find((w) => !before.some((b) => b.pid === w.pid))!;
      expect(fresh.instance).toBe(gone.instance);
    });
  }

  it('while the primary closes, a worker whose app closes its server is not replaced', async () => {
    const { port } = await start();
    let spawned = 0;
    primary!.on('worker:spawn', () => spawned++);
    // The app closes its server first: the primary drains that worker and its replacement is due
    // after the backoff (50 ms at least); the primary's close() comes before it and cancels it.
    const retired = new Promise((resolve) => primary!.once('worker:recycle', resolve));
    await getOnce({ port, tls: false }, '/close');
    await retired;
    await primary!.close({ timeout: 2000 });
    expect(spawned).toBe(0);
    expect(primary!.state).toBe('stopped');
  });
});
