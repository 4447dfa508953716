import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary, type Primary } from '../../orchestrator/dist/index.js';
import { HandoffError, serve } from '../dist/index.js';
import { get, isAlive, killAll, waitFor } from '../../../tools/testing/src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/kinds.mjs', import.meta.url));
let primary: Primary | undefined;
const pids = new Set<number>();
const dirs: string[] = [];
afterEach(async () => {
  await primary?.close({ timeout: 2000 });
  primary = undefined;
  killAll(pids);
  pids.clear();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

describe('serve()', () => {
  it('run alone (no primary), the same worker file listens on PORT itself', async () => {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, SERVER_KIND: 'http', PORT: String(port) };
    delete env.HANDOFF_WORKER_ID;
    const child = spawn(process.execPath, [fixture], { env, stdio: 'ignore' });
    pids.add(child.pid!);
    await waitFor(async () => (await get(port, { timeout: 500 }).catch(() => undefined))?.status === 200, 10_000, 50, 'the worker to listen alone');
    expect((await get(port)).body).toContain(`pid ${child.pid}`);
  });

  it('under a primary: ready() defers readiness, and the drain and shutdown hooks run in order with the counters', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-hooks-'));
    dirs.push(dir);
    const hookFile = join(dir, 'hooks.log');
    primary = createPrimary({ worker: fixture, workers: 1, listen: { port: 0, host: '127.0.0.1' }, env: { SERVER_KIND: 'http', HOOK_FILE: hookFile, READY_LATER: '300' }, handleSignals: false });
    primary.on('worker:spawn', (w) => pids.add(w.pid));
    const began = Date.now();
    await primary.start();
    expect(Date.now() - began).toBeGreaterThanOrEqual(250);
    const port = (primary.addresses()[0] as { port: number }).port;
    for (let i = 0; i < 3; i++) expect((await get(port)).status).toBe(200);
    const [worker] = primary.workers();
    await primary.close();
    const lines = readFileSync(hookFile, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^drain ${worker!.pid} managed=true `));
    expect(JSON.parse(lines[0]!.split(' ').slice(3).join(' '))).toMatchObject({ accepted: 3, requests: 3 });
    expect(lines[1]).toBe(`shutdown ${worker!.pid}`);
    expect(isAlive(worker!.pid)).toBe(false);
  });

  it('refuses what is not a net.Server, and a second server in one process, with typed errors', async () => {
    expect(() => serve({} as never)).toThrow(expect.objectContaining({ code: 'HANDOFF_ERR_INVALID_SERVER' }));
    const first = new Server();
    const handle = serve(first, { port: 0 });
    try {
      expect(handle.managed).toBe(false);
      let error: unknown;
      try {
        serve(new Server(), { port: 0 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HandoffError);
      expect((error as HandoffError).code).toBe('HANDOFF_ERR_ALREADY_SERVING');
    } finally {
      await new Promise((r) => first.close(r));
    }
  });
});
