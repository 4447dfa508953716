// Faults found by trying handoff as a user would: a failed reload must leave the pool as it was,
// and a signal to the whole process group (Ctrl-C, systemd's control-group kill) must drain as a
// signal to the primary alone does.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { get, isAlive, killAll, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app, primaryScript } from './helpers.js';

let current: TestPrimary | undefined;
const pids = new Set<number>();
const dirs: string[] = [];
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
  killAll(pids);
  pids.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('a reload whose new code fails to start', () => {
  it('rejects, and leaves the old workers serving: nothing respawned, restarts 0, no extra worker once the code is fixed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-faults-'));
    dirs.push(dir);
    const crash = join(dir, 'crash');
    current = await startTestPrimary({ worker: app, workers: 2, env: { CRASH_AT_START_FILE: crash }, restart: { initialDelay: 20, maxDelay: 100 } });
    const { primary, port } = current;
    const before = primary.workers().map((w) => w.id);
    let spawnedAfter = 0;
    writeFileSync(crash, '');
    await expect(primary.reload()).rejects.toMatchObject({ code: 'HANDOFF_ERR_WORKER_START_FAILED' });
    primary.on('worker:spawn', () => spawnedAfter++);
    // Longer than many crash backoffs (20..100 ms): a respawn loop would have forked by now.
    await new Promise((r) => setTimeout(r, 1500));
    expect(spawnedAfter).toBe(0);
    expect(primary.workers().map((w) => [w.id, w.state, w.restarts])).toEqual(before.map((id) => [id, 'ready', 0]));
    // The code is fixed: still the two old workers, serving, until the next reload.
    rmSync(crash);
    await new Promise((r) => setTimeout(r, 500));
    expect(primary.workers().map((w) => w.id)).toEqual(before);
    expect((await get(port)).status).toBe(200);
    await primary.reload();
    expect(primary.workers()).toHaveLength(2);
    expect(primary.workers().some((w) => before.includes(w.id))).toBe(false);
  });
});

/** Runs fixtures/primary.mjs as the leader of its own process group; resolves with its port once its workers are ready. */
async function spawnGroup(): Promise<{ pgid: number; port: number; workerPids: number[]; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [primaryScript], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  pids.add(child.pid!);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    void exited.then((code) => reject(new Error(`primary exited early: ${code}`)));
  });
  const { port, pids: workerPids } = JSON.parse(line) as { port: number; pids: number[] };
  workerPids.forEach((p) => pids.add(p));
  return { pgid: child.pid!, port, workerPids, exited };
}

describe('a signal to the whole process group', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} to the group (Ctrl-C, systemd's KillMode=control-group): an in-flight request completes, the primary exits 0`, async () => {
      const { pgid, port, workerPids, exited } = await spawnGroup();
      const slow = get(port, { path: '/slow?ms=1500', timeout: 10_000 });
      // The request has reached its worker once the worker counted it (its load report follows).
      await new Promise((r) => setTimeout(r, 400));
      process.kill(-pgid, signal);
      const response = await slow;
      expect(response.status).toBe(200);
      expect(response.body).toContain('handled by child');
      expect(await exited).toBe(0);
      await waitFor(() => workerPids.every((p) => !isAlive(p)), 5000, 20, 'the workers to exit');
    });
  }
});

describe('SIGTERM to one worker alone', () => {
  it('the worker drains (its in-flight request completes) and the primary replaces it in its slot', async () => {
    current = await startTestPrimary({ worker: app, workers: 2 });
    const { primary, port } = current;
    const recycled: string[] = [];
    primary.on('worker:recycle', (_w, { reason }) => recycled.push(reason));
    const slow = get(port, { path: '/slow?ms=1000', timeout: 10_000 });
    await new Promise((r) => setTimeout(r, 300));
    const busy = primary.workers().find((w) => w.connections > 0)!;
    process.kill(busy.pid, 'SIGTERM');
    expect((await slow).status).toBe(200);
    await waitFor(() => !isAlive(busy.pid) && primary.workers().length === 2 && primary.workers().every((w) => w.state === 'ready'), 10_000, 20, 'the replacement');
    expect(recycled).toEqual(['signal']);
    expect(primary.workers().map((w) => w.instance).sort()).toEqual([0, 1]);
    expect(primary.workers().every((w) => w.restarts <= 1)).toBe(true);
  });
});
