import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListenAddress } from '@handoff/protocol';
import { createPrimary, type ListeningSocket } from '@handoff/orchestrator';
import { get, isAlive, killAll, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';

// primary.listeningSockets(): what an upgrade hands a new primary (see packages/cli/src/upgrade.ts).

const listenApp = fileURLToPath(new URL('./fixtures/listen-3999.mjs', import.meta.url));
const handoverPrimary = fileURLToPath(new URL('./fixtures/handover-primary.mjs', import.meta.url));

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

describe('listeningSockets()', () => {
  it.each(['native', 'ipc'] as const)('transport %s: names each drop-in listener by the app port it serves, with an open descriptor of its socket; none once closed', async (transport) => {
    current = await startTestPrimary({ worker: listenApp, workers: 1, transport, dropIn: { host: '127.0.0.1', ports: { 3999: 0 } }, listen: undefined });
    const { primary } = current;
    const [socket, ...others] = primary.listeningSockets();
    expect(others).toEqual([]);
    expect(socket!.app).toEqual({ port: 3999 });
    expect(socket!.address).toEqual(primary.addresses()[0]);
    // The native acceptor closed Node's own descriptor: this is its duplicate, a socket.
    expect(readlinkSync(`/proc/self/fd/${socket!.fd}`)).toMatch(/^socket:\[\d+\]$/);
    await primary.close();
    expect(primary.listeningSockets()).toEqual([]);
  });
});

/** What fixtures/handover-primary.mjs prints, one JSON line per event. */
interface Said {
  event: 'ready' | 'closed';
  pid: number;
  sockets?: ListeningSocket[];
  addresses?: ListenAddress[];
}

describe('a Unix socket path and listen(0) ports handed to a new primary (dropIn.sockets, close({ handedOver }))', () => {
  const pids = new Set<number>();
  let dir = '';
  afterEach(() => {
    killAll(pids);
    pids.clear();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  /** Starts the fixture primary; `said` collects what it (and the new primaries it starts) print. */
  function start(env: Record<string, string>): { child: ChildProcess; said: Said[] } {
    const child = spawn(process.execPath, [handoverPrimary], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    pids.add(child.pid!);
    const said: Said[] = [];
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const s = JSON.parse(line) as Said;
        pids.add(s.pid);
        said.push(s);
      }
    });
    return { child, said };
  }

  async function heard(said: Said[], event: Said['event'], pid?: number): Promise<Said> {
    let found: Said | undefined;
    await waitFor(() => (found = said.find((s) => s.event === event && (pid === undefined ? true : pid < 0 ? s.pid !== -pid : s.pid === pid))) !== undefined, 20_000, 20, `${event} from ${pid ?? 'the primary'}`);
    return found!;
  }

  it.each([
    ['primary', '1'],
    ['shared', '1'],
    ['primary', '0'],
  ] as const)('mode %s (unlink %s): the path and both port-0 ports stay the same, served by the new primary; the old one leaves the path, the new one removes it at its close only if it was handed with it', async (policy, unlink) => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-handover-'));
    const path = join(dir, 'app.sock');
    const { child, said } = start({ POLICY: policy, HANDOFF_TEST_SOCKET: path, HANDOFF_TEST_UNLINK: unlink });
    const first = await heard(said, 'ready', child.pid);
    const byName = (sockets: ListeningSocket[]) => sockets.map((s) => ({ app: s.app, appIndex: s.appIndex, unlinks: s.unlinks, address: s.address }));
    expect(byName(first.sockets!)).toEqual(
      expect.arrayContaining([
        { app: { path }, appIndex: 0, unlinks: path, address: { path } },
        { app: { port: 0 }, appIndex: 0, unlinks: undefined, address: expect.objectContaining({ port: expect.any(Number) }) },
        { app: { port: 0 }, appIndex: 1, unlinks: undefined, address: expect.objectContaining({ port: expect.any(Number) }) },
      ]),
    );
    // The primary bound the path under another name and linked it: the socket is there, and nothing else.
    expect(lstatSync(path).isSocket()).toBe(true);
    const ports = first.addresses!.filter((a): a is { port: number; host: string } => 'port' in a).map((a) => a.port);
    expect(ports).toHaveLength(2);
    const answer = async (o: { port?: number; socketPath?: string }) => JSON.parse((await get(o.port ?? 0, o.socketPath === undefined ? {} : { socketPath: o.socketPath })).body) as { name: string; pid: number };
    expect((await answer({ socketPath: path })).name).toBe('path');

    process.kill(child.pid!, 'SIGUSR2');
    const next = await heard(said, 'ready', -child.pid!);
    await heard(said, 'closed', child.pid);
    await waitFor(() => !isAlive(child.pid!), 10_000, 20, 'the old primary to exit');
    // Same port-0 ports, same path, and the old primary's exit left the path to the new one.
    const nextPorts = next.addresses!.filter((a): a is { port: number; host: string } => 'port' in a).map((a) => a.port);
    expect(nextPorts.sort()).toEqual([...ports].sort());
    expect(next.addresses).toContainEqual({ path });
    expect(lstatSync(path).isSocket()).toBe(true);
    const names = new Set<string>();
    for (const o of [{ socketPath: path }, { port: ports[0]! }, { port: ports[1]! }]) {
      const a = await answer(o);
      expect(a.pid).not.toBe(first.pid);
      names.add(a.name);
    }
    expect(names).toEqual(new Set(['path', 'first port 0', 'second port 0']));
    // Handed with the path (unlink), the new primary removes it as the one that bound it would.
    process.kill(next.pid, 'SIGTERM');
    await heard(said, 'closed', next.pid);
    expect(existsSync(path)).toBe(unlink === '0');
  }, 60_000);
});

describe('dropIn.sockets', () => {
  it.each([
    [[{ app: { path: '/run/a.sock' } }], 'dropIn.sockets[0].fd must be a file descriptor'],
    [[{ app: { port: 70000 }, fd: 5 }], 'dropIn.sockets[0].app must be { path } or { port, host? }'],
    [[{ app: { path: '/run/a.sock' }, fd: 5, index: -1 }], 'dropIn.sockets[0].index must be an integer >= 0'],
    [[{ app: { path: '/run/a.sock' }, fd: 5, unlink: 'yes' }], 'dropIn.sockets[0].unlink must be a boolean'],
    [[{ app: { path: '/run/a.sock' }, fd: 5, name: 'web' }], 'dropIn.sockets[0].name is not an option of a drop-in socket'],
    [{ app: { path: '/run/a.sock' }, fd: 5 }, 'dropIn.sockets must be an array'],
  ])('refuses %j, naming what is wrong', (sockets, message) => {
    expect(() => createPrimary({ worker: listenApp, dropIn: { sockets: sockets as never } })).toThrow(expect.objectContaining({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining(message) }));
  });
});
