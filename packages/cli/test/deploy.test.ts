/**
 * `handoff start` at the edge, through the real command: --proxy-protocol (with --proxy-trusted
 * and --proxy-timeout), --listen on systemd's sockets (systemd-socket-activate passes them as
 * systemd does), --user/--group (the workers' ids in /proc, the control socket the user's), their
 * config-file keys; and the recipes of docs/deploy run as written: handoff.service's ExecStart
 * under systemd-socket-activate with handoff.socket's name, and kubernetes.yaml's container
 * command against its probes and ports.
 *
 * The systemd tests need systemd-socket-activate (.ci/run installs Debian's systemd package), the
 * --user ones root and the user nobody (CI runs as root); each is skipped with its reason otherwise,
 * unless HANDOFF_REQUIRE_DEPLOY_TOOLS=1 (.ci/run sets it as root): then it runs, and fails where it cannot.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { freePort, get, waitFor } from '../../../tools/testing/src/index.js';
import { bin, fixture, useSandbox, type Running } from './helpers.js';

const required = process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';
const activator = spawnSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' }).status === 0;
const root = process.getuid?.() === 0;
const nobodyEntry = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('nobody:'))?.split(':');
const NOBODY = nobodyEntry === undefined ? undefined : { uid: Number(nobodyEntry[2]), gid: Number(nobodyEntry[3]) };
const deploy = (name: string): string => fileURLToPath(new URL(`../../../docs/deploy/${name}`, import.meta.url));
const whoami = fixture('whoami.cjs');

interface Who {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  readonly groups: number[];
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** Writes `bytes` on a fresh connection and reads until the peer closes: the answer, or '' when it closed unanswered. */
function raw(port: number, bytes: string | Buffer, timeout = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeout} ms (got ${JSON.stringify(out)})`));
    }, timeout);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => (out += c.toString()));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** The JSON body of a raw HTTP/1.0 answer. */
function body(answer: string): Who {
  return JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Who;
}

const request = 'GET / HTTP/1.0\r\nHost: x\r\n\r\n';

/** Waits until systemd-socket-activate holds the socket (it says so on stderr). */
async function activated(run: Running): Promise<void> {
  await waitFor(() => run.stderr().includes('Listening on'), 10_000, 20, 'systemd-socket-activate to listen');
}

/** Waits for `handoff start`'s ready event (a systemd-activated one starts at the first connection). */
async function ready(run: Running): Promise<void> {
  await Promise.race([
    waitFor(() => run.lines.some((l) => l.event === 'ready'), 20_000, 20, 'handoff start to be ready'),
    run.exited.then((code) => {
      throw new Error(`handoff start exited with ${code} before it was ready: ${run.stderr()}`);
    }),
  ]);
}

/** The `Uid:` and `Groups:` lines of a process, as the kernel reports them. */
function ids(pid: number): { uid: string; gid: string; groups: string } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (key: string): string => text.split('\n').find((l) => l.startsWith(`${key}:`))!.slice(key.length + 1).trim().split(/\s+/).join(' ');
  return { uid: line('Uid'), gid: line('Gid'), groups: line('Groups') };
}

describe('handoff start --proxy-protocol', () => {
  const sandbox = useSandbox();

  it.each([['round-robin'], ['shared']])('policy %s: the app sees the client a PROXY v1 or v2 header names; a connection without one never reaches it', async (policy) => {
    const run = await sandbox.start([whoami, '-w', '2', '--port', '3000:0', '--host', '127.0.0.1', '--policy', policy, '--proxy-protocol']);
    const v1 = await raw(run.port, `PROXY TCP4 203.0.113.7 127.0.0.1 40000 3000\r\n${request}`);
    expect(body(v1)).toMatchObject({ remoteAddress: '203.0.113.7', remotePort: 40000 });
    // v2: signature, PROXY over TCP4, 12 address bytes: 198.51.100.9:5555 → 127.0.0.1:3000.
    const v2 = Buffer.concat([
      Buffer.from('0d0a0d0a000d0a515549540a', 'hex'),
      Buffer.from([0x21, 0x11, 0x00, 0x0c, 198, 51, 100, 9, 127, 0, 0, 1, 0x15, 0xb3, 0x0b, 0xb8]),
      Buffer.from(request),
    ]);
    expect(body(await raw(run.port, v2))).toMatchObject({ remoteAddress: '198.51.100.9', remotePort: 5555 });
    // No header: closed unanswered, never the app's.
    expect(await raw(run.port, request)).toBe('');
    expect((await sandbox.cli(['stop', 'whoami'])).code).toBe(0);
    expect(await run.exited).toBe(0);
  });

  it('--proxy-trusted closes peers outside the blocks unread; --proxy-timeout bounds a silent one', async () => {
    const run = await sandbox.start([whoami, '-w', '1', '--port', '3000:0', '--host', '127.0.0.1', '--proxy-protocol', '--proxy-trusted', '10.0.0.0/8,fd00::/8']);
    expect(await raw(run.port, `PROXY TCP4 203.0.113.7 127.0.0.1 40000 3000\r\n${request}`)).toBe('');
    expect((await sandbox.cli(['stop', 'whoami'])).code).toBe(0);
    await run.exited;

    const timed = await sandbox.start([whoami, '-w', '1', '--port', '3000:0', '--host', '127.0.0.1', '--proxy-protocol', '--proxy-trusted', '127.0.0.0/8', '--proxy-timeout', '300ms']);
    expect(body(await raw(timed.port, `PROXY TCP4 203.0.113.8 127.0.0.1 40001 3000\r\n${request}`)).remoteAddress).toBe('203.0.113.8');
    const began = Date.now();
    expect(await raw(timed.port, '', 5000)).toBe('');
    const took = Date.now() - began;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000); // the 3 s default would be past this
    expect((await sandbox.cli(['stop', 'whoami'])).code).toBe(0);
  });

  it('config-file keys proxyProtocol, proxyTrusted, proxyTimeout', async () => {
    const dir = sandbox.runtimeDir();
    writeFileSync(join(dir, 'handoff.config.json'), JSON.stringify({ entry: whoami, workers: 1, port: '3000:0', host: '127.0.0.1', proxyProtocol: true, proxyTrusted: ['127.0.0.0/8', '::1'], proxyTimeout: '2s' }));
    const run = await sandbox.start([], { cwd: dir });
    expect(body(await raw(run.port, `PROXY TCP4 192.0.2.1 127.0.0.1 1234 3000\r\n${request}`)).remoteAddress).toBe('192.0.2.1');
    expect((await sandbox.cli(['stop', 'whoami'])).code).toBe(0);
  });

  it('usage: the reading options need --proxy-protocol; a bad block is named by its flag (exit 2)', async () => {
    const alone = await sandbox.cli(['start', whoami, '--proxy-trusted', '10.0.0.0/8']);
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--proxy-trusted says how PROXY protocol headers are read: add --proxy-protocol');
    const bad = await sandbox.cli(['start', whoami, '--proxy-protocol', '--proxy-trusted', '10.0.0.0/99']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^handoff: --proxy-trusted is "10\.0\.0\.0\/99", not a CIDR block/m);
    const help = await sandbox.cli(['start', '--help']);
    for (const flag of ['--proxy-protocol', '--proxy-trusted CIDR,...', '--proxy-timeout MS', '--listen [APP:]SOCKET', '--user USER', '--group GROUP']) expect(help.stdout).toContain(flag);
  });
});

describe.skipIf(!activator && !required)('handoff start --listen (systemd socket activation)', () => {
  const sandbox = useSandbox();

  it.each([
    ['name:web', ['--port', '3000', '--listen', 'name:web']],
    ['systemd', ['--port', '3000', '--listen', 'systemd']],
    ['fd:3, app port in the flag', ['--listen', '3000:fd:3']],
  ])('--listen %s serves the app port on the socket systemd passed; the workers inherit no LISTEN_*', async (_what, flags) => {
    const port = await freePort();
    const run = await sandbox.start([whoami, '-w', '2', ...flags], {
      waitReady: false,
      wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--fdname=web', '-E', 'XDG_RUNTIME_DIR', '-E', 'NO_COLOR'],
    });
    await activated(run);
    // systemd-socket-activate execs the command at the first connection, which waits in the socket.
    const first = await get(port, { timeout: 20_000 });
    expect(first.status).toBe(200);
    await ready(run);
    const bound = run.lines.find((l) => l.event === 'listener:bound') as { address?: { port?: number } } | undefined;
    expect(bound?.address?.port).toBe(port);
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) pids.add((JSON.parse((await get(port)).body) as Who).pid);
    expect(pids.size).toBe(2);
    for (const pid of pids) expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).not.toMatch(/(^|\0)LISTEN_(FDS|PID|FDNAMES)=/);
    expect((await sandbox.cli(['stop', 'whoami'])).code).toBe(0);
    expect(await run.exited).toBe(0);
  });

  it('usage: --listen needs the app port; a name systemd did not pass is named by the flag (exit 2)', async () => {
    const noPort = await sandbox.cli(['start', whoami, '--listen', 'systemd']);
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toContain("--listen systemd serves the app's port on that socket: say which, with --port 3000");
    const bogus = await sandbox.cli(['start', whoami, '--listen', 'web']);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain('--listen must be systemd, fd:N, name:NAME');
    const none = await sandbox.cli(['start', whoami, '--port', '3000', '--listen', 'name:web']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--listen (app port 3000): systemd passed no socket named "web"');
    // Two sockets: 'systemd' would be ambiguous; the error says how to pick one.
    const [a, b] = [await freePort(), await freePort()];
    const two = await sandbox.start([whoami, '--port', '3000', '--listen', 'systemd'], {
      waitReady: false,
      wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${a}`, '-l', `127.0.0.1:${b}`, '--fdname=web:admin', '-E', 'XDG_RUNTIME_DIR'],
    });
    await activated(two);
    await get(a, { timeout: 5000 }).catch(() => undefined);
    expect(await two.exited).toBe(2);
    expect(two.stderr()).toContain("--listen (app port 3000) is 'systemd' but systemd passed 2 sockets (web, admin); pick one by name: --listen APP:name:NAME");
  });
});

describe.skipIf((!root || NOBODY === undefined) && !required)('handoff start --user (the primary runs as root)', () => {
  const sandbox = useSandbox();
  let tmp = '';
  afterEach(() => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
    tmp = '';
  });

  it("workers run as the user with its group and no supplementary groups; the control folder (0700) and socket (0600) are the user's, who steers the primary; root's own folder has none", async () => {
    // The user's control folder is handoff-<uid> in the temp folder (TMPDIR): one the user can reach.
    tmp = mkdtempSync(join(tmpdir(), 'handoff-user-test-'));
    chmodSync(tmp, 0o711);
    // The user's folder may be there already, with a link the user planted where the socket goes,
    // to a socket that answers: the root primary must neither follow it nor take it for a running one.
    const dir = join(tmp, `handoff-${NOBODY!.uid}`);
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY!.uid, NOBODY!.gid);
    const decoy = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => decoy.listen(join(tmp, 'decoy.sock'), resolve));
    symlinkSync(join(tmp, 'decoy.sock'), join(dir, 'whoami.sock'));
    const run = await sandbox.start([whoami, '-w', '2', '--port', '3000:0', '--host', '127.0.0.1', '--user', 'nobody'], { env: { TMPDIR: tmp } }).finally(() => decoy.close());
    const who = JSON.parse((await get(run.port)).body) as Who;
    expect(who).toMatchObject({ uid: NOBODY!.uid, gid: NOBODY!.gid, groups: [NOBODY!.gid] });
    for (const pid of run.workerPids) {
      expect(ids(pid)).toEqual({ uid: Array(4).fill(NOBODY!.uid).join(' '), gid: Array(4).fill(NOBODY!.gid).join(' '), groups: '' });
    }
    expect(ids(run.child.pid!).uid).toBe('0 0 0 0');
    const folder = statSync(dir);
    expect({ uid: folder.uid, gid: folder.gid, mode: folder.mode & 0o777 }).toEqual({ uid: NOBODY!.uid, gid: NOBODY!.gid, mode: 0o700 });
    expect(lstatSync(join(dir, 'whoami.sock')).isSocket()).toBe(true);
    const socket = statSync(join(dir, 'whoami.sock'));
    expect({ uid: socket.uid, mode: socket.mode & 0o777 }).toEqual({ uid: NOBODY!.uid, mode: 0o600 });
    expect(run.lines.find((l) => l.event === 'ready')?.control).toBe(join(dir, 'whoami.sock'));

    // The user steers it, as `sudo -u nobody handoff status` would (no XDG_RUNTIME_DIR).
    const asNobody = (args: string[]) =>
      spawnSync('setpriv', [`--reuid=${NOBODY!.uid}`, `--regid=${NOBODY!.gid}`, '--clear-groups', process.execPath, bin, ...args], { env: { PATH: process.env.PATH, TMPDIR: tmp, NO_COLOR: '1' }, encoding: 'utf8', timeout: 20_000 });
    const status = asNobody(['status', '--json']);
    expect(status.status, status.stderr).toBe(0);
    expect((JSON.parse(status.stdout) as { workers: unknown[] }).workers).toHaveLength(2);
    // Root's own folder (the sandbox's XDG_RUNTIME_DIR) has no socket of it.
    expect((await sandbox.cli(['status', 'whoami'])).code).toBe(4);
    const stop = asNobody(['stop']);
    expect(stop.status, stop.stderr).toBe(0);
    expect(await run.exited).toBe(0);
  });

  it('config-file keys user and group (numeric ids)', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'handoff-user-test-'));
    chmodSync(tmp, 0o711);
    const dir = sandbox.runtimeDir();
    writeFileSync(join(dir, 'handoff.config.json'), JSON.stringify({ entry: whoami, workers: 1, port: '3000:0', host: '127.0.0.1', user: NOBODY!.uid, group: NOBODY!.gid }));
    const run = await sandbox.start([], { cwd: dir, env: { TMPDIR: tmp } });
    expect(JSON.parse((await get(run.port)).body)).toMatchObject({ uid: NOBODY!.uid, gid: NOBODY!.gid });
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });
});

describe('docs/deploy recipes, run as written', () => {
  const sandbox = useSandbox();
  let app = '';
  afterEach(() => {
    if (app !== '') rmSync(app, { recursive: true, force: true });
    app = '';
  });

  /** A folder standing for the app's (/srv/app, /app): app.js is the whoami fixture; others may read it (--user). */
  function appFolder(): string {
    app = mkdtempSync(join(tmpdir(), 'handoff-recipe-'));
    chmodSync(app, 0o755);
    copyFileSync(whoami, join(app, 'app.js'));
    chmodSync(join(app, 'app.js'), 0o644);
    // app.js is CommonJS: a package.json of its own keeps any "type": "module" above from claiming it.
    writeFileSync(join(app, 'package.json'), '{ "type": "commonjs" }\n');
    return app;
  }

  it.skipIf(!activator && !required)("handoff.service's ExecStart, under systemd-socket-activate with handoff.socket's FileDescriptorName, serves; SIGTERM (KillMode=mixed) drains and exits 0", async () => {
    const unit = readFileSync(deploy('handoff.service'), 'utf8');
    const socketUnit = readFileSync(deploy('handoff.socket'), 'utf8');
    const key = (text: string, name: string): string[] => [...text.matchAll(new RegExp(`^${name}=(.*)$`, 'gm'))].map((m) => m[1]!);
    const [execStart] = key(unit, 'ExecStart');
    const [workingDirectory] = key(unit, 'WorkingDirectory');
    const [fdName] = key(socketUnit, 'FileDescriptorName');
    expect(key(unit, 'KillMode')).toEqual(['mixed']);
    expect(key(socketUnit, 'ListenStream')).toHaveLength(1);
    const words = execStart!.split(/\s+/);
    // The handoff command itself, from the app's folder: exec'd by systemd (LISTEN_PID is its pid).
    expect(words[0]).toBe(`${workingDirectory}/node_modules/.bin/handoff`);
    expect(words[1]).toBe('start');
    let args = words.slice(2);
    // The unit's user is 'app'; here it is nobody (root), or the test's own user (the flag dropped).
    const user = args.indexOf('--user');
    expect(user).toBeGreaterThan(-1);
    if (root && NOBODY !== undefined) args[user + 1] = 'nobody';
    else args.splice(user, 2);
    // The helper adds --log-format json itself.
    const format = args.indexOf('--log-format');
    if (format !== -1) args.splice(format, 2);
    args = [...args, '-w', '2'];
    const env = Object.fromEntries(key(unit, 'Environment').map((e) => e.split('=', 2) as [string, string]));
    const port = await freePort();
    const cwd = appFolder();
    const tmp = mkdtempSync(join(tmpdir(), 'handoff-unit-tmp-'));
    chmodSync(tmp, 0o711);
    try {
      const run = await sandbox.start(args, {
        cwd,
        waitReady: false,
        env: { ...env, TMPDIR: tmp },
        // systemd passes a clean environment: the unit's Environment= (and TMPDIR here for the control folder).
        wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, `--fdname=${fdName}`, ...Object.keys(env).flatMap((k) => ['-E', k]), '-E', 'TMPDIR'],
      });
      await activated(run);
      expect((await get(port, { timeout: 20_000 })).status).toBe(200);
      await ready(run);
      const who = JSON.parse((await get(port)).body) as Who;
      if (root && NOBODY !== undefined) expect(who.uid).toBe(NOBODY.uid);
      // A request in flight when systemd stops the service (SIGTERM to the primary alone) finishes.
      const slow = get(port, { path: '/slow' });
      await new Promise((r) => setTimeout(r, 200));
      run.child.kill('SIGTERM');
      expect((await slow).status).toBe(200);
      expect(await run.exited).toBe(0);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("kubernetes.yaml: the container's command serves the probes' paths on the ports they name; /readyz turns 503 at SIGTERM while a request finishes; the grace covers preStop + drain", async () => {
    const docs = parseAllDocuments(readFileSync(deploy('kubernetes.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, any>);
    for (const d of docs) expect(d).toHaveProperty('kind');
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const service = docs.find((d) => d.kind === 'Service')!;
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers as Array<Record<string, any>>;
    const command = container!.command as string[];
    expect(command[0]).toMatch(/\/node_modules\/\.bin\/handoff$/);
    expect(command[1]).toBe('start');
    const flag = (name: string): string => command[command.indexOf(name) + 1]!;
    const portOf = (name: string | number): number => (typeof name === 'number' ? name : (container!.ports as Array<{ name: string; containerPort: number }>).find((p) => p.name === name)!.containerPort);
    // The ports the pod declares are the ones the command serves.
    expect(portOf('http')).toBe(Number(flag('--port')));
    expect(portOf('metrics')).toBe(Number(flag('--metrics')));
    expect((service.spec.ports as Array<{ targetPort: string }>).map((p) => portOf(p.targetPort))).toEqual([portOf('http')]);
    // Probes on the metrics port, never the app's.
    const probes = { readiness: container!.readinessProbe, liveness: container!.livenessProbe, startup: container!.startupProbe };
    expect(probes.readiness.httpGet.path).toBe('/readyz');
    expect(probes.liveness.httpGet.path).toBe('/healthz');
    for (const probe of Object.values(probes)) expect(portOf(probe.httpGet.port)).toBe(portOf('metrics'));
    // One worker per CPU of the limit; the grace covers preStop + drain + the 1 s kill backstop.
    expect(Number(flag('--workers'))).toBe(Number(container!.resources.limits.cpu));
    const preStop = container!.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const drainSeconds = Number(/^(\d+)s$/.exec(flag('--drain-timeout'))![1]);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(preStop[1]) + drainSeconds + 1);

    // Run it: the app on a free port, the metrics on another, both on loopback.
    const args = command.slice(2).filter((_, i, all) => all[i - 1] !== '--log-format' && all[i] !== '--log-format');
    args[args.indexOf('--port') + 1] = `${flag('--port')}:0`;
    args[args.indexOf('--metrics') + 1] = '127.0.0.1:0';
    const run = await sandbox.start([...args, '--host', '127.0.0.1'], { cwd: appFolder() });
    const at = run.lines.find((l) => l.event === 'metrics') as { metrics: { port: number } };
    const metrics = at.metrics.port;
    expect((await get(run.port)).status).toBe(200);
    for (const probe of Object.values(probes)) expect((await get(metrics, { path: probe.httpGet.path })).status).toBe(200);
    const slow = get(run.port, { path: '/slow' });
    await new Promise((r) => setTimeout(r, 200));
    run.child.kill('SIGTERM');
    await waitFor(async () => (await get(metrics, { path: '/readyz' }).catch(() => ({ status: 0 }))).status === 503, 5000, 20, '/readyz to answer 503 while draining');
    expect((await get(metrics, { path: '/healthz' })).status).toBe(200);
    expect((await slow).status).toBe(200);
    expect(await run.exited).toBe(0);
  });
});
