import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { get, isAlive, runLoad, waitFor } from '../../../tools/testing/src/index.js';
import { fixture, useSandbox } from './helpers.js';

const sandbox = useSandbox();

/** Fresh-connection requests until `count` different pids answered (at most 20 tries). */
async function pidsAnswering(port: number, count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < 20 && seen.size < count; i++) {
    const res = await get(port);
    expect(res.status).toBe(200);
    seen.add(/(?:pid|by) (\d+)/.exec(res.body)![1]!);
  }
  return seen;
}

describe('handoff start', () => {
  it('runs an unmodified CommonJS Express app on 2 workers; status --json lists both; scale 3 then -1; stop exits 0 and leaves no process', async () => {
    const run = await sandbox.start([fixture('express-app.cjs'), '-w', '2', '--port', '3000:0', '--name', 'web']);
    expect(run.port).toBeGreaterThan(0);
    expect((await pidsAnswering(run.port, 2)).size).toBe(2);
    expect((await get(run.port)).body).toMatch(/^express cjs pid \d+ instance [01]\n$/);

    const status = await sandbox.cli(['status', 'web', '--json']);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as { workers: Array<{ pid: number; instance: number; state: string; rss: number }>; policy: { name: string }; listeners: unknown[] };
    expect(parsed.workers.map((w) => w.instance).sort()).toEqual([0, 1]);
    expect(parsed.workers.every((w) => w.state === 'ready')).toBe(true);
    expect(parsed.policy.name).toBe('round-robin');
    expect(parsed.listeners).toHaveLength(1);

    const up = await sandbox.cli(['scale', 'web', '3']);
    expect(up).toMatchObject({ code: 0, stdout: 'web: 3 workers\n' });
    expect(up.stderr).toMatch(/1\/1 new workers ready \(instance 2/);
    const down = await sandbox.cli(['scale', '-1']);
    expect(down).toMatchObject({ code: 0, stdout: 'web: 2 workers\n' });
    const table = await sandbox.cli(['status']);
    expect(table.stdout).toMatch(/instance\s+id\s+pid\s+state\s+uptime\s+restarts\s+conns\s+requests\s+rss\s+cpu\s+loop delay/);
    expect(table.stdout.trim().split('\n').filter((l) => /^\d+\s+\d+\s+\d+\s+ready/.test(l))).toHaveLength(2);

    const stop = await sandbox.cli(['stop', 'web']);
    expect(stop).toMatchObject({ code: 0, stdout: 'web: stopped\n' });
    expect(await run.exited).toBe(0);
    for (const pid of run.workerPids) expect(isAlive(pid)).toBe(false);
    expect((await sandbox.cli(['status', 'web'])).code).toBe(4);
  });

  it('--transport ipc carries connections on the IPC channel (status says so); a transport that does not exist exits 2 naming the flag', async () => {
    const run = await sandbox.start([fixture('express-app.cjs'), '-w', '2', '--port', '3000:0', '--name', 'viaipc', '--transport', 'ipc']);
    expect(run.lines.find((l) => l.event === 'ready')).toMatchObject({ transport: 'ipc', msg: expect.stringContaining('(policy round-robin, transport ipc)') });
    expect((await pidsAnswering(run.port, 2)).size).toBe(2);
    const status = JSON.parse((await sandbox.cli(['status', 'viaipc', '--json'])).stdout) as { workers: Array<{ transport: string | null }> };
    expect(status.workers.map((w) => w.transport)).toEqual(['ipc', 'ipc']);
    expect((await sandbox.cli(['status', 'viaipc'])).stdout).toMatch(/policy round-robin \(mode primary\), transport ipc;/);
    const bad = await sandbox.cli(['start', fixture('express-app.cjs'), '--transport', 'fast']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--transport must be one of auto, native, ipc, got "fast"/);
  });

  it('runs an ES module Express app and an app that calls serve() alike, with no flag', async () => {
    const esm = await sandbox.start([fixture('express-app.mjs'), '-w', '2', '--port', '3000:0']);
    expect((await pidsAnswering(esm.port, 2)).size).toBe(2);
    expect((await get(esm.port)).body).toMatch(/^express esm pid/);
    const served = await sandbox.start([fixture('served.mjs'), '-w', '2', '--port', '0']);
    expect((await pidsAnswering(served.port, 2)).size).toBe(2);
    expect((await get(served.port)).body).toMatch(/^served by \d+ instance [01]\n$/);
    const list = await sandbox.cli(['ls', '--json']);
    expect((JSON.parse(list.stdout) as Array<{ name: string }>).map((s) => s.name).sort()).toEqual(['express-app', 'served']);
    esm.child.kill('SIGTERM');
    served.child.kill('SIGTERM');
    expect(await esm.exited).toBe(0);
    expect(await served.exited).toBe(0);
  });

  it('reload (command and SIGHUP) under keep-alive and churn load fails no request', async () => {
    const run = await sandbox.start([fixture('express-app.cjs'), '-w', '2', '--port', '3000:0', '--name', 'busy', '--drain-timeout', '5s']);
    const controller = new AbortController();
    const loads = [runLoad({ port: run.port, concurrency: 3, keepAlive: true, signal: controller.signal }), runLoad({ port: run.port, concurrency: 3, keepAlive: false, signal: controller.signal })];
    await new Promise((r) => setTimeout(r, 200));
    const reload = await sandbox.cli(['reload', 'busy']);
    expect(reload.code).toBe(0);
    expect(reload.stdout).toMatch(/^busy: reloaded, 2 workers replaced in/);
    expect(reload.stderr).toMatch(/2\/2 new workers ready/);
    const before = new Set(run.lines.filter((l) => l.event === 'reload:end').map(String));
    run.child.kill('SIGHUP');
    await waitFor(() => run.lines.filter((l) => l.event === 'reload:end').length === before.size + 1, 20_000, 20, 'the SIGHUP reload');
    controller.abort();
    const results = await Promise.all(loads);
    for (const r of results) {
      expect(r.failed, r.errors.join('\n')).toBe(0);
      expect(r.non2xx).toBe(0);
      expect(r.ok).toBeGreaterThan(0);
    }
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('TTIN adds a worker, TTOU removes one, INT and TERM to a worker fail no request, TERM to the primary drains and exits 0', async () => {
    const run = await sandbox.start([fixture('served.mjs'), '-w', '1', '--port', '0', '--name', 'sig']);
    const workers = async (): Promise<number> => (JSON.parse((await sandbox.cli(['status', 'sig', '--json'])).stdout) as { workers: Array<{ state: string }> }).workers.filter((w) => w.state === 'ready').length;
    run.child.kill('SIGTTIN');
    await waitFor(async () => (await workers()) === 2, 15_000, 100, 'two workers after TTIN');
    run.child.kill('SIGTTOU');
    await waitFor(async () => (await workers()) === 1, 15_000, 100, 'one worker after TTOU');
    // A terminal's Ctrl-C signals the whole group: a signalled worker does not just die; the app
    // keeps answering and the pool stays whole.
    const [worker] = (JSON.parse((await sandbox.cli(['status', 'sig', '--json'])).stdout) as { workers: Array<{ pid: number }> }).workers;
    process.kill(worker!.pid, 'SIGINT');
    process.kill(worker!.pid, 'SIGTERM');
    for (let i = 0; i < 5; i++) expect((await get(run.port)).status).toBe(200);
    await waitFor(async () => (await workers()) === 1, 15_000, 100, 'one ready worker after the signals');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    for (const pid of run.workerPids) expect(isAlive(pid)).toBe(false);
  });

  it('an app that throws at import exits 3 and prints its last stderr lines', async () => {
    const run = await sandbox.start([fixture('throws.cjs'), '-w', '2'], { waitReady: false });
    expect(await run.exited).toBe(3);
    const failed = run.lines.find((l) => l.event === 'start-failed') as { msg: string } | undefined;
    expect(failed?.msg).toMatch(/the app failed to start/);
    expect(failed?.msg).toMatch(/boom: the database URL is missing/);
    for (const pid of run.workerPids) expect(isAlive(pid)).toBe(false);
  });
});

describe('handoff start: how it ends', () => {
  it('exits 1 when the drain deadline cut a request still in flight (stop --timeout)', async () => {
    const run = await sandbox.start([fixture('express-app.cjs'), '-w', '1', '--port', '3000:0', '--name', 'late']);
    const slow = get(run.port, { path: '/slow?ms=5000' }).catch((error: Error) => error);
    await waitFor(async () => ((JSON.parse((await sandbox.cli(['status', 'late', '--json'])).stdout) as { workers: Array<{ connections: number }> }).workers[0]?.connections ?? 0) > 0, 5000, 50, 'the slow request to arrive');
    const stop = await sandbox.cli(['stop', 'late', '--timeout', '300ms']);
    expect(stop.stdout).toBe('late: stopped (connections were cut at the drain deadline)\n');
    expect(stop.code).toBe(1);
    expect(await run.exited).toBe(1);
    expect(await slow).toBeInstanceOf(Error);
  });

  it('a second Ctrl-C (SIGINT) kills the workers and exits 130', async () => {
    const run = await sandbox.start([fixture('express-app.cjs'), '-w', '2', '--port', '3000:0', '--drain-timeout', '20s']);
    const slow = get(run.port, { path: '/slow?ms=15000' }).catch((error: Error) => error);
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGINT');
    await waitFor(() => run.lines.some((l) => l.event === 'stop'), 5000, 20, 'the drain to begin');
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    await waitFor(() => [...run.workerPids].every((pid) => !isAlive(pid)), 5000, 20, 'every worker to be gone');
    expect(await slow).toBeInstanceOf(Error);
  });
});

describe('handoff reload', () => {
  it('whose new code fails to start exits 1 with the reason, and the old workers keep serving', async () => {
    const app = mkdtempSync(join(tmpdir(), 'handoff-reload-'));
    onTestFinished(() => rmSync(app, { recursive: true, force: true }));
    const entry = join(app, 'app.cjs');
    writeFileSync(entry, "require('node:http').createServer((req, res) => res.end(`v1 ${process.pid}`)).listen(3000);\n");
    const run = await sandbox.start([entry, '-w', '2', '--port', '3000:0', '--name', 'broken']);
    writeFileSync(entry, "throw new Error('v2 cannot start: missing SECRET');\n");
    const reload = await sandbox.cli(['reload', 'broken']);
    expect(reload.code).toBe(1);
    expect(reload.stderr).toMatch(/v2 cannot start: missing SECRET/);
    for (let i = 0; i < 4; i++) expect((await get(run.port)).body).toMatch(/^v1 \d+$/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });
});
