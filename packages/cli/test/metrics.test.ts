import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { get, waitFor } from '../../../tools/testing/src/index.js';
import { bin, fixture, useSandbox } from './helpers.js';

describe('handoff start --metrics and handoff top', () => {
  const sandbox = useSandbox();

  it('--metrics [host:]port serves /metrics, /healthz and /readyz; top shows each worker every second and ends when the primary stops', async () => {
    const run = await sandbox.start([fixture('greeter.cjs'), '-w', '2', '--port', '3000:0', '--metrics', '127.0.0.1:0', '--name', 'watched']);
    const at = run.lines.find((l) => l.event === 'metrics') as { metrics?: { port?: number; address?: string } } | undefined;
    expect(at?.metrics?.address).toBe('127.0.0.1');
    const port = at!.metrics!.port!;
    for (let i = 0; i < 20; i++) expect((await get(run.port)).status).toBe(200);
    const metrics = await get(port, { path: '/metrics' });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^handoff_workers\{state="ready"\} 2$/m);
    expect((await get(port, { path: '/healthz' })).status).toBe(200);
    expect((await get(port, { path: '/readyz' })).status).toBe(200);

    const top = spawn(process.execPath, [bin, 'top', 'watched'], { env: { ...process.env, XDG_RUNTIME_DIR: sandbox.runtimeDir(), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    top.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const topExit = new Promise<number | null>((resolve) => top.once('exit', (code) => resolve(code)));
    await waitFor(() => (out.match(/^watched: running/gm) ?? []).length >= 2, 10_000, 20, 'two frames of handoff top');
    // Plain lines off a terminal: no escape codes; a row per worker.
    expect(out).not.toContain('\u001b');
    expect(out).toMatch(/^slot\s+pid\s+state\s+cpu\s+rss\s+conns\s+req\/s\s+loop delay\s+restarts$/m);
    expect(out).toMatch(/^0\s+\d+\s+ready\s/m);
    expect(out).toMatch(/^1\s+\d+\s+ready\s/m);
    expect((await sandbox.cli(['stop', 'watched'])).code).toBe(0);
    expect(await topExit).toBe(0);
    expect(out).toContain('watched: the primary is gone');
    expect(await run.exited).toBe(0);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('top on a terminal redraws in place and quits on q, restoring the cursor', async () => {
    await sandbox.start([fixture('greeter.cjs'), '-w', '2', '--port', '3000:0', '--name', 'tty']);
    // util-linux's script(1) gives top a pseudo-terminal and passes our bytes to it as keys.
    const top = spawn('/usr/bin/script', ['-qfec', `${process.execPath} ${bin} top tty`, '/dev/null'], { env: { ...process.env, XDG_RUNTIME_DIR: sandbox.runtimeDir(), NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    top.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const topExit = new Promise<number | null>((resolve) => top.once('exit', (code) => resolve(code)));
    await waitFor(() => (out.match(/\u001b\[H\u001b\[2J/g) ?? []).length >= 2, 10_000, 20, 'two redraws of handoff top');
    expect(out).toContain('q: quit');
    top.stdin.write('q');
    expect(await topExit).toBe(0);
    expect(out).toContain('\u001b[?25h');
  });

  it('refuses a malformed --metrics address, naming the flag', async () => {
    const r = await sandbox.cli(['start', fixture('greeter.cjs'), '--metrics', 'localhost']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--metrics must be PORT or HOST:PORT');
  });
});
