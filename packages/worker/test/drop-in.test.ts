import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { balancedShared, roundRobin } from '../../policies/dist/index.js';
import type { ListenAddress } from '@handoff/protocol';
import type { Policy } from '../../policies/dist/index.js';
// The primary is built next door; core packages are not each other's dependencies (no cycle).
import { createPrimary, type Primary } from '../../orchestrator/dist/index.js';
import { get, killAll, waitFor } from '../../../tools/testing/src/index.js';

const plainApp = fileURLToPath(new URL('./fixtures/plain-app.mjs', import.meta.url));
const register = fileURLToPath(new URL('../dist/register.js', import.meta.url));

let primary: Primary | undefined;
const pids = new Set<number>();
afterEach(async () => {
  await primary?.close({ timeout: 2000 });
  primary = undefined;
  killAll(pids);
  pids.clear();
});

async function start(policy: Policy = roundRobin()): Promise<{ main: number; admin: number }> {
  primary = createPrimary({ worker: plainApp, workers: 2, policy, dropIn: { ports: { 3000: 0, 3001: 0 }, register }, handleSignals: false, readyTimeout: 15_000 });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  await primary.start();
  // Ready once the app listened on its first port; its second listen() follows from its callback.
  await waitFor(() => primary!.addresses().length === 2, 10_000, 20, 'both of the app’s ports to be bound');
  const [main, admin] = primary.addresses() as Array<Extract<ListenAddress, { port: number }>>;
  return { main: main!.port, admin: admin!.port };
}

describe('drop-in mode', () => {
  for (const [name, policy] of [
    ['primary', roundRobin],
    ['shared, balanced', balancedShared],
  ] as const) {
    it(`mode ${name}: an unmodified app's listen(3000) and listen(3001) serve through the primary, and server.address() reports the real ports`, async () => {
      const { main, admin } = await start(policy());
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        const res = await get(main);
        expect(res.status).toBe(200);
        const [, pid, address] = /^main (\d+) (.*)$/.exec(res.body.trim())!;
        seen.add(pid!);
        expect(JSON.parse(address!)).toMatchObject({ port: main });
      }
      if (name === 'primary') expect(seen.size).toBe(2);
      const res = await get(admin);
      expect(res.body).toMatch(/^admin \d+ /);
      expect(JSON.parse(res.body.trim().split(' ').slice(2).join(' '))).toEqual({ address: '127.0.0.1', family: 'IPv4', port: admin });
    });
  }

  it('a replacement worker re-binds the same listeners and serves', async () => {
    const { main } = await start();
    const before = primary!.workers().map((w) => w.pid);
    await primary!.reload();
    const after = primary!.workers().map((w) => w.pid);
    expect(after.some((p) => before.includes(p))).toBe(false);
    const res = await get(main);
    expect(res.status).toBe(200);
    expect(after).toContain(Number(/^main (\d+)/.exec(res.body)![1]));
    expect(primary!.addresses()).toHaveLength(2);
  });

  it("a taken port reaches the app as its own listen() error (EADDRINUSE), as it would alone", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, r));
    try {
      const port = (taken.address() as { port: number }).port;
      primary = createPrimary({ worker: plainApp, workers: 1, dropIn: { ports: { 3000: port, 3001: 0 }, register }, handleSignals: false, readyTimeout: 15_000 });
      primary.on('worker:spawn', (w) => pids.add(w.pid));
      const error = await primary.start().then(
        () => undefined,
        (e: unknown) => e as { code: string; message: string },
      );
      // The unmodified app has no 'error' handler: like a single process, it dies of EADDRINUSE.
      expect(error?.code).toBe('HANDOFF_ERR_WORKER_START_FAILED');
      expect(error?.message).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });

  it('rejects the listen option with dropIn', () => {
    expect(() => createPrimary({ worker: plainApp, listen: 3000, dropIn: true })).toThrowError(/listen must be left out with dropIn/);
  });
});

describe('serve() under a drop-in primary', () => {
  it('listens through the primary on PORT, readiness deferred until ready(), so one primary runs serve() apps and listen() apps alike', async () => {
    const servedApp = fileURLToPath(new URL('./fixtures/served-app.mjs', import.meta.url));
    primary = createPrimary({ worker: servedApp, workers: 2, dropIn: { ports: { 4123: 0 }, register }, env: { PORT: '4123' }, handleSignals: false, readyTimeout: 15_000 });
    const readyAt: number[] = [];
    const spawnedAt = Date.now();
    primary.on('worker:spawn', (w) => pids.add(w.pid));
    primary.on('worker:ready', () => readyAt.push(Date.now()));
    await primary.start();
    expect(Math.min(...readyAt) - spawnedAt).toBeGreaterThanOrEqual(100);
    const [address] = primary.addresses() as Array<Extract<ListenAddress, { port: number }>>;
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const res = await get(address!.port);
      expect(res.body).toMatch(/^served \d+ managed=true$/m);
      seen.add(res.body.split(' ')[1]!);
    }
    expect(seen.size).toBe(2);
  });
});
