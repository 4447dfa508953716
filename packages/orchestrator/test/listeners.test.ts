import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { roundRobin, sharedHandle } from '@handoff/policies';
import { get, startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';
import { fileURLToPath } from 'node:url';
import { app } from './helpers.js';

const addressApp = fileURLToPath(new URL('./fixtures/address-app.mjs', import.meta.url));

let current: TestPrimary | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Whether this machine can bind ::1 (some CI containers have no IPv6). */
const ipv6 = await new Promise<boolean>((resolve) => {
  const probe = createServer();
  probe.once('error', () => resolve(false));
  probe.listen(0, '::1', () => probe.close(() => resolve(true)));
});

describe('listeners', () => {
  for (const [name, policy] of [
    ['primary', roundRobin],
    ['shared', sharedHandle],
  ] as const) {
    it(`mode ${name}: serves IPv4, IPv6 and a Unix socket at once`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'handoff-sock-'));
      dirs.push(dir);
      const path = join(dir, 'app.sock');
      const listen = [{ port: 0, host: '127.0.0.1' }, ...(ipv6 ? [{ port: 0, host: '::1' }] : []), { path }];
      current = await startTestPrimary({ worker: app, workers: 2, policy: policy(), listen });
      const addresses = current.primary.addresses();
      expect(addresses).toHaveLength(listen.length);
      const v4 = addresses[0] as { port: number };
      expect((await get(v4.port)).status).toBe(200);
      if (ipv6) {
        const v6 = addresses[1] as { port: number; host: string };
        expect(v6.host).toBe('::1');
        expect((await get(v6.port, { host: '::1' })).status).toBe(200);
      }
      for (let i = 0; i < 3; i++) expect((await get(0, { socketPath: path })).body).toMatch(/handled by child/);
    });
  }

  it("the app's server.address() is the pipe's path on a Unix socket, as a server listening on it answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-sock-'));
    dirs.push(dir);
    const path = join(dir, 'app.sock');
    current = await startTestPrimary({ worker: addressApp, workers: 1, policy: roundRobin(), listen: [{ path }] });
    expect(JSON.parse((await get(0, { socketPath: path })).body)).toEqual({ address: path, listening: true });
  });

  it("the app's server.address() is the listener's real address and port on TCP", async () => {
    current = await startTestPrimary({ worker: addressApp, workers: 1, policy: roundRobin(), listen: [{ port: 0, host: '127.0.0.1' }] });
    const { port } = current.primary.addresses()[0] as { port: number };
    expect(JSON.parse((await get(port)).body)).toEqual({ address: { address: '127.0.0.1', family: 'IPv4', port }, listening: true });
  });
});
