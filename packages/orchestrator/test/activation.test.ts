/**
 * systemd socket activation with systemd-socket-activate (Debian's systemd package): it binds the
 * port, passes the socket as systemd does (fd 3, LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES) and execs
 * fixtures/socket-holder.mjs, which plays the .socket unit's service manager: it runs the primary
 * on the socket and restarts it on SIGUSR2. Skipped without systemd-socket-activate, unless
 * HANDOFF_REQUIRE_DEPLOY_TOOLS=1 (CI).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';
import { freePort, get, killAll, runLoad, waitFor } from '../../../tools/testing/src/index.js';

const holder = fileURLToPath(new URL('./fixtures/socket-holder.mjs', import.meta.url));
const envApp = fileURLToPath(new URL('./fixtures/env-app.mjs', import.meta.url));
const available = spawnSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' }).status === 0;
const required = process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';

interface Ready {
  readonly pid: number;
  readonly workers: number[];
  readonly addresses: Array<{ port?: number; host?: string }>;
  readonly env: Record<string, string | null>;
}

let activator: ChildProcess | undefined;
const pids = new Set<number>();
afterEach(async () => {
  if (activator !== undefined && activator.exitCode === null && activator.signalCode === null) {
    const exited = new Promise((resolve) => activator!.once('exit', resolve));
    activator.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
  }
  if (activator?.pid !== undefined) pids.add(activator.pid);
  killAll(pids);
  pids.clear();
  activator = undefined;
});

/** Starts systemd-socket-activate on a free port; resolves once it listens, with the `ready` lines as they come. */
async function activate(env: Record<string, string>): Promise<{ port: number; readies: Ready[] }> {
  const port = await freePort();
  const readies: Ready[] = [];
  activator = spawn('systemd-socket-activate', ['-l', `127.0.0.1:${port}`, '--fdname=web', process.execPath, holder], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  activator.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (let nl = out.indexOf('\n'); nl !== -1; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith('ready ')) {
        const ready = JSON.parse(line.slice(6)) as Ready;
        pids.add(ready.pid);
        for (const w of ready.workers) pids.add(w);
        readies.push(ready);
      }
    }
  });
  let err = '';
  activator.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  await waitFor(() => err.includes('Listening on'), 10_000, 20, 'systemd-socket-activate to listen');
  return { port, readies };
}

describe.each([
  ['primary', 'roundRobin'],
  ['shared', 'shared'],
] as const)('socket activation, mode %s', (_mode, policy) => {
  const run = available || required ? it : it.skip;

  run("listen: 'systemd' adopts the socket; the first connection waits in it until the primary is up; restarts of the whole primary under load refuse no connection; workers inherit no LISTEN_* variable", async () => {
    if (!available) throw new Error('systemd-socket-activate: not installed (HANDOFF_REQUIRE_DEPLOY_TOOLS=1)');
    const { port, readies } = await activate({ POLICY: policy });
    // systemd-socket-activate starts the service at the first connection: this one waits in the
    // socket's backlog while the primary and its workers start, then is served.
    const first = JSON.parse((await get(port)).body) as { pid: number; LISTEN_FDS: string | null; LISTEN_PID: string | null; LISTEN_FDNAMES: string | null };
    expect(first).toMatchObject({ LISTEN_FDS: null, LISTEN_PID: null, LISTEN_FDNAMES: null });
    // (In mode shared a worker may answer before the primary has printed that it is ready.)
    await waitFor(() => readies.length === 1, 20_000, 20, 'the first primary');
    expect(readies[0]!.addresses).toEqual([{ port, host: '127.0.0.1' }]);
    // The primary took the variables out of its own environment too.
    expect(readies[0]!.env).toEqual({ LISTEN_FDS: null, LISTEN_PID: null, LISTEN_FDNAMES: null });

    const controller = new AbortController();
    const load = runLoad({ port, concurrency: 4, keepAlive: false, signal: controller.signal });
    for (let restart = 2; restart <= 3; restart++) {
      await new Promise((r) => setTimeout(r, 300));
      activator!.kill('SIGUSR2');
      await waitFor(() => readies.length === restart, 20_000, 20, `primary #${restart}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    const result = await load;
    expect(result.failed + result.non2xx, result.errors.join('\n')).toBe(0);
    expect(result.ok).toBeGreaterThan(20);
    expect(new Set(readies.map((r) => r.pid)).size).toBe(3);
  });
});

describe('socket activation options', () => {
  it.each([
    [{ fd: 2 }, 'listen.fd must be an integer >= 3'],
    [{ fd: 3, port: 80 }, 'listen.port is not an option of a listener on a passed socket'],
  ])('refuses %j at createPrimary()', (listen, message) => {
    expect(() => createPrimary({ worker: envApp, listen: listen as never, handleSignals: false })).toThrow(expect.objectContaining({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining(message) }));
  });

  // systemd's variables are read when the primary starts, not when it is made.
  it.each([
    ['systemd', "option listen is 'systemd' but systemd passed no socket"],
    [{ fdName: 'web' }, 'listen.fdName: systemd passed no socket named "web"'],
  ])('refuses %j at start(), before any bind or fork', async (listen, message) => {
    const primary = createPrimary({ worker: envApp, listen: listen as never, handleSignals: false });
    await expect(primary.start()).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining(message) });
    expect(primary.state).toBe('stopped');
    expect(primary.workers()).toEqual([]);
  });
});
