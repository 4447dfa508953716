import { spawn } from 'node:child_process';
import { existsSync, lstatSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { get, waitFor } from '../../../tools/testing/src/index.js';
import { fixture, useSandbox } from './helpers.js';

const sandbox = useSandbox();

/** Sends `payload` on a fresh control connection; resolves with what came back when the primary closed it or after `ms`. */
function exchange(path: string, payload: string | Buffer, ms = 1000): Promise<{ text: string; closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(path);
    let text = '';
    let closedByPeer = false;
    socket.on('data', (c) => (text += c.toString()));
    socket.on('error', () => {});
    socket.once('close', () => {
      closedByPeer = true;
      clearTimeout(timer);
      resolve({ text, closedByPeer });
    });
    socket.once('connect', () => socket.write(payload));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closedByPeer });
    }, ms);
  });
}

describe('the control socket', () => {
  it('lives in a 0700 folder as a 0600 socket; a second start of the name refuses with exit 4 and forks nothing', async () => {
    const run = await sandbox.start([fixture('served.mjs'), '-w', '1', '--port', '0', '--name', 'one']);
    const dir = join(sandbox.runtimeDir(), 'handoff');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(dir, 'one.sock')).isSocket()).toBe(true);
    expect(statSync(join(dir, 'one.sock')).mode & 0o777).toBe(0o600);
    const second = await sandbox.start([fixture('served.mjs'), '-w', '1', '--port', '0', '--name', 'one'], { waitReady: false });
    expect(await second.exited).toBe(4);
    expect(second.stderr()).toMatch(/a primary named "one" is running already/);
    expect(second.workerPids.size).toBe(0);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(existsSync(join(dir, 'one.sock'))).toBe(false);
  });

  it('replaces a stale socket left by a killed primary', async () => {
    const dir = join(sandbox.runtimeDir(), 'handoff');
    const path = join(dir, 'stale.sock');
    // A process that listens on the socket and is then SIGKILLed: the file stays, nobody answers.
    const holder = spawn(process.execPath, ['-e', `require('fs').mkdirSync(${JSON.stringify(dir)}, { recursive: true, mode: 0o700 }); require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => holder.stdout!.once('data', r));
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    expect(lstatSync(path).isSocket()).toBe(true);
    const run = await sandbox.start([fixture('served.mjs'), '-w', '1', '--port', '0', '--name', 'stale']);
    expect((await sandbox.cli(['status', 'stale', '--json'])).code).toBe(0);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('answers garbage, huge lines, unknown commands, other versions and floods with errors or a closed socket, and keeps serving', async () => {
    const run = await sandbox.start([fixture('served.mjs'), '-w', '2', '--port', '0', '--name', 'hostile']);
    const path = join(sandbox.runtimeDir(), 'handoff', 'hostile.sock');
    const garbage = await exchange(path, 'not json\n{"v":1}\n[1,2]\n');
    const replies = garbage.text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; code: string });
    expect(replies.map((r) => r.code)).toEqual(['HANDOFF_ERR_CONTROL_MALFORMED', 'HANDOFF_ERR_CONTROL_MALFORMED', 'HANDOFF_ERR_CONTROL_MALFORMED']);
    const unknown = await exchange(path, '{"v":1,"id":7,"cmd":"rm -rf"}\n{"v":2,"id":8,"cmd":"status"}\n');
    expect(unknown.text.trim().split('\n').map((l) => JSON.parse(l) as object)).toEqual([
      expect.objectContaining({ v: 1, id: 7, type: 'error', code: 'HANDOFF_ERR_CONTROL_UNKNOWN_COMMAND' }),
      expect.objectContaining({ v: 1, id: 8, type: 'error', code: 'HANDOFF_ERR_CONTROL_VERSION' }),
    ]);
    const huge = await exchange(path, Buffer.alloc(200 * 1024, 'a'), 3000);
    expect(huge.closedByPeer).toBe(true);
    expect(huge.text).toMatch(/HANDOFF_ERR_CONTROL_OVERSIZED/);
    const flood = await exchange(path, '{"v":1,"id":1,"cmd":"status"}\n'.repeat(200), 3000);
    expect(flood.closedByPeer).toBe(true);
    const bad = await exchange(path, 'x\n'.repeat(50), 3000);
    expect(bad.closedByPeer).toBe(true);
    // Many connections at once: some are turned away; none disturbs serving or a later status.
    await Promise.all(Array.from({ length: 40 }, () => exchange(path, '', 300)));
    for (let i = 0; i < 5; i++) expect((await get(run.port)).status).toBe(200);
    const status = await sandbox.cli(['status', 'hostile', '--json']);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { workers: unknown[] }).workers).toHaveLength(2);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('client commands name what is wrong: no primary (exit 4), a bad scale (exit 2), several primaries without a name (exit 2)', async () => {
    expect(await sandbox.cli(['status'])).toMatchObject({ code: 4 });
    expect((await sandbox.cli(['stop', 'nope'])).stderr).toMatch(/no primary named "nope" is running/);
    expect(await sandbox.cli(['scale', 'web', 'lots'])).toMatchObject({ code: 2 });
    const a = await sandbox.start([fixture('served.mjs'), '-w', '1', '--port', '0', '--name', 'a']);
    const b = await sandbox.start([fixture('served.mjs'), '-w', '1', '--port', '0', '--name', 'b']);
    const which = await sandbox.cli(['reload']);
    expect(which.code).toBe(2);
    expect(which.stderr).toMatch(/2 primaries are running \(a, b\)/);
    expect((await sandbox.cli(['scale', 'a', '0'])).stderr).toMatch(/at least 1 must run/);
    const ls = await sandbox.cli(['ls']);
    expect(ls.stdout).toMatch(/^name\s+pid\s+state/);
    a.child.kill('SIGTERM');
    b.child.kill('SIGINT');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    await waitFor(() => true);
  });
});
