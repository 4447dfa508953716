import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { balancedShared, sharedHandle, roundRobin } from '@handoff/policies';
import { get, runLoad, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

let current: TestPrimary | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('reload()', () => {
  for (const [name, policy] of [
    ['primary', roundRobin],
    ['shared', sharedHandle],
    ['shared, balanced', balancedShared],
  ] as const) {
    it(`mode ${name}: 20 consecutive reloads under keep-alive and Connection: close load fail no request`, async () => {
      current = await startTestPrimary({ worker: app, workers: 2, policy: policy() });
      const { primary, port } = current;
      const stop = new AbortController();
      const keepAlive = runLoad({ port, concurrency: 4, keepAlive: true, signal: stop.signal });
      const churn = runLoad({ port, concurrency: 4, keepAlive: false, signal: stop.signal });
      const ends: number[] = [];
      primary.on('reload:end', (r) => ends.push(r.replaced));
      try {
        for (let i = 0; i < 20; i++) await primary.reload();
      } finally {
        stop.abort();
      }
      const [ka, ch] = await Promise.all([keepAlive, churn]);
      expect(ends).toEqual(new Array(20).fill(2));
      expect({ failed: ka.failed, non2xx: ka.non2xx, errors: ka.errors }).toEqual({ failed: 0, non2xx: 0, errors: [] });
      expect({ failed: ch.failed, non2xx: ch.non2xx, errors: ch.errors }).toEqual({ failed: 0, non2xx: 0, errors: [] });
      expect(ka.ok).toBeGreaterThan(100);
      expect(ch.ok).toBeGreaterThan(100);
      expect(primary.workers().filter((w) => w.state === 'ready')).toHaveLength(2);
    });
  }

  it('picks up new code, and keeps the old workers serving when the new code fails to start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-reload-'));
    dirs.push(dir);
    const versionFile = join(dir, 'version');
    const crashFile = join(dir, 'crash');
    writeFileSync(versionFile, 'v1');
    current = await startTestPrimary({ worker: app, workers: 2, env: { VERSION_FILE: versionFile, CRASH_AT_START_FILE: crashFile } });
    const { primary, port } = current;
    expect((await get(port)).body).toContain('version v1');
    writeFileSync(versionFile, 'v2');
    await primary.reload();
    expect((await get(port)).body).toContain('version v2');
    expect((await get(port)).body).toContain('version v2');

    writeFileSync(versionFile, 'v3');
    writeFileSync(crashFile, 'broken');
    const before = primary.workers().map((w) => w.pid);
    const error = (await primary.reload().catch((e: unknown) => e)) as { code: string };
    expect(error.code).toBe('HANDOFF_ERR_WORKER_START_FAILED');
    expect(primary.state).toBe('running');
    expect(primary.workers().map((w) => w.pid)).toEqual(before);
    for (let i = 0; i < 4; i++) expect((await get(port)).body).toContain('version v2');
  });
});
