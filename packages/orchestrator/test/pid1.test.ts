/**
 * docs/deploy/Dockerfile's promise, checked without Docker: its CMD runs as PID 1 of a fresh PID
 * namespace (`unshare --pid --fork`, as a container's first process runs), and SIGTERM from outside
 * (`docker stop`) drains and exits 0 with no init in between. Needs root (CAP_SYS_ADMIN); skipped
 * otherwise, unless HANDOFF_REQUIRE_DEPLOY_TOOLS=1.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { get, killAll, waitFor } from '../../../tools/testing/src/index.js';

const script = fileURLToPath(new URL('./fixtures/pid1-primary.mjs', import.meta.url));
const dockerfile = readFileSync(fileURLToPath(new URL('../../../docs/deploy/Dockerfile', import.meta.url)), 'utf8');
const canUnshare = spawnSync('unshare', ['--pid', '--fork', 'true'], { stdio: 'ignore' }).status === 0;
const required = process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';

let unshare: ChildProcess | undefined;
const hostPids = new Set<number>();
afterEach(() => {
  if (unshare?.pid !== undefined) hostPids.add(unshare.pid);
  killAll(hostPids);
  hostPids.clear();
  unshare = undefined;
});

/** Host pids of the children of `pid` (/proc/<pid>/task/<pid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('the Dockerfile CMD as PID 1', () => {
  it('is in exec form, so that node itself is PID 1', () => {
    expect(dockerfile).toMatch(/^CMD \["node", "primary\.mjs"\]$/m);
  });

  (canUnshare || required ? it : it.skip)('SIGTERM drains (a request in flight finishes) and the primary exits 0, with no init', async () => {
    if (!canUnshare) throw new Error('unshare --pid needs root (HANDOFF_REQUIRE_DEPLOY_TOOLS=1)');
    unshare = spawn('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    unshare.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await waitFor(() => out.includes('\n'), 20_000, 20, 'the primary to be ready');
    const ready = JSON.parse(out.slice(0, out.indexOf('\n'))) as { pid: number; port: number };
    expect(ready.pid).toBe(1);
    const [pid1] = childrenOf(unshare.pid!);
    expect(pid1).toBeDefined();
    hostPids.add(pid1!);
    for (const worker of childrenOf(pid1!)) hostPids.add(worker);
    const exited = new Promise<number | null>((resolve) => unshare!.once('exit', (code) => resolve(code)));
    const inFlight = get(ready.port, { path: '/slow?ms=800' });
    await new Promise((r) => setTimeout(r, 200));
    // What `docker stop` does: SIGTERM to the container's PID 1, from outside its namespace.
    process.kill(pid1!, 'SIGTERM');
    const response = await inFlight;
    expect(response.status).toBe(200);
    // unshare exits with its child's status: the primary drained and exited 0.
    expect(await exited).toBe(0);
    // PID 1 gone: the kernel ended everything in its namespace.
    for (const pid of hostPids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
