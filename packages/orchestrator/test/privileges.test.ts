/**
 * Privilege drop: a root primary binds the ports, the workers run as another user with its group
 * and no supplementary groups. Needs root and the `nobody` user (CI runs as root); skipped otherwise,
 * unless HANDOFF_REQUIRE_DEPLOY_TOOLS=1 (.ci/run sets it as root): then it runs, and fails where it cannot.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';
import { get, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';

const identityApp = fileURLToPath(new URL('./fixtures/identity-app.mjs', import.meta.url));
const greedyApp = fileURLToPath(new URL('./fixtures/greedy-app.mjs', import.meta.url));
const root = process.getuid?.() === 0;
const nobody = readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('nobody:'))?.split(':');
const NOBODY_UID = Number(nobody?.[2]);
const NOBODY_GID = Number(nobody?.[3]);

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

/** A free port below 1024 on 127.0.0.1 (this process is root). */
async function privilegedPort(): Promise<number> {
  for (let port = 1023; port > 900; port--) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 1024');
}

/** The `Uid:`, `Gid:` and `Groups:` lines of a process, as the kernel reports them. */
function status(pid: number): { uid: string; gid: string; groups: string } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const line = (key: string) => text.split('\n').find((l) => l.startsWith(`${key}:`))!.slice(key.length + 1).trim().split(/\s+/).join(' ');
  return { uid: line('Uid'), gid: line('Gid'), groups: line('Groups') };
}

describe.skipIf((!root || nobody === undefined) && process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS !== '1')('privilege drop (user, group)', () => {
  it('the root primary binds a port below 1024; the workers run as nobody, with its group and no supplementary groups', async () => {
    const port = await privilegedPort();
    current = await startTestPrimary({ worker: identityApp, workers: 2, user: 'nobody', listen: { port, host: '127.0.0.1' } });
    const answer = JSON.parse((await get(port)).body) as { uid: number; gid: number; groups: number[]; home: string; user: string };
    expect(answer).toMatchObject({ uid: NOBODY_UID, gid: NOBODY_GID, groups: [NOBODY_GID], user: 'nobody' });
    for (const worker of current.primary.workers()) {
      // Real, effective, saved and filesystem ids all dropped; no supplementary group left (root's 0 gone).
      expect(status(worker.pid)).toEqual({ uid: `${NOBODY_UID} ${NOBODY_UID} ${NOBODY_UID} ${NOBODY_UID}`, gid: `${NOBODY_GID} ${NOBODY_GID} ${NOBODY_GID} ${NOBODY_GID}`, groups: '' });
    }
    expect(process.getuid?.()).toBe(0);
  });

  it('takes numeric ids and a group of its own', async () => {
    current = await startTestPrimary({ worker: identityApp, workers: 1, user: NOBODY_UID, group: 0 });
    const answer = JSON.parse((await get(current.port)).body) as { uid: number; gid: number };
    expect(answer).toMatchObject({ uid: NOBODY_UID, gid: 0 });
    expect(status(current.primary.workers()[0]!.pid).groups).toBe('');
  });

  it("drop-in: an app running as nobody cannot have its root primary bind port 22 or a Unix socket path; a mapped port it can", async () => {
    const path = `/etc/handoff-greedy-${process.pid}.sock`;
    current = await startTestPrimary({ worker: greedyApp, workers: 1, user: 'nobody', dropIn: { host: '127.0.0.1', ports: { 3999: 0 } }, listen: undefined, env: { GREEDY_PATH: path } });
    const address = current.primary.addresses()[0] as { port: number };
    const answer = JSON.parse((await get(address.port)).body) as { uid: number; attempts: Record<string, string> };
    expect(answer).toEqual({ uid: NOBODY_UID, attempts: { port22: 'EACCES', path: 'EACCES' } });
    expect(existsSync(path)).toBe(false);
    expect(current.primary.addresses()).toHaveLength(1);
  });

  it.each([
    [{ group: 'nogroup' }, 'option group needs user too'],
    [{ user: -1 }, 'option user must be a user name or a numeric uid'],
  ])('refuses %j at createPrimary()', (options, message) => {
    expect(() => createPrimary({ worker: identityApp, listen: 0, handleSignals: false, ...options } as never)).toThrow(expect.objectContaining({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining(message) }));
  });

  // /etc/passwd and /etc/group are read when the primary starts, not when it is made.
  it.each([
    [{ user: 'no-such-user-here' }, 'no user "no-such-user-here" in /etc/passwd'],
    [{ user: 'nobody', group: 'no-such-group-here' }, 'no group "no-such-group-here" in /etc/group'],
  ])('refuses %j at start(), before any bind or fork', async (options, message) => {
    const primary = createPrimary({ worker: identityApp, listen: 0, handleSignals: false, ...options } as never);
    await expect(primary.start()).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining(message) });
    expect(primary.state).toBe('stopped');
    expect(primary.addresses()).toEqual([]);
  });
});
