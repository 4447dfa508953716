import { channel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeStatus } from '@handoff/fdpass';
import { roundRobin } from '@handoff/policies';
import { createPrimary, type PrimaryOptions } from '@handoff/orchestrator';
import { get, pidOf, startTestPrimary, waitFor, type TestPrimary, type TestResponse } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

// The option `transport`: both transports where the addon loads (HANDOFF_FDPASS_REQUIRE=1 makes
// its absence a failure), IPC alone where it does not.
const native = nativeStatus().available;
if (process.env.HANDOFF_FDPASS_REQUIRE === '1' && !native) throw new Error(`the native transport is required here but does not load: ${nativeStatus().reason}`);
const transports: ReadonlyArray<'native' | 'ipc'> = native ? ['native', 'ipc'] : ['ipc'];

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

function selections(): { seen: unknown[]; stop(): void } {
  const seen: unknown[] = [];
  const on = (message: unknown): void => void seen.push(message);
  const selected = channel('handoff:transport:selected');
  selected.subscribe(on);
  return { seen, stop: () => selected.unsubscribe(on) };
}

describe('option transport', () => {
  it('refuses a transport that does not exist, naming the option', () => {
    expect(() => createPrimary({ worker: app, listen: 0, transport: 'fast' as PrimaryOptions['transport'] })).toThrow(expect.objectContaining({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining('option transport') }));
  });

  it('reads HANDOFF_TRANSPORT where the option is left out, at start(), and refuses one that names no transport', async () => {
    const before = process.env.HANDOFF_TRANSPORT;
    process.env.HANDOFF_TRANSPORT = 'fast';
    try {
      const primary = createPrimary({ worker: app, listen: 0 });
      await expect(primary.start()).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining('HANDOFF_TRANSPORT') });
      expect(primary.state).toBe('stopped');
      // The option wins over the environment.
      expect(() => createPrimary({ worker: app, listen: 0, transport: 'ipc' })).not.toThrow();
    } finally {
      if (before === undefined) delete process.env.HANDOFF_TRANSPORT;
      else process.env.HANDOFF_TRANSPORT = before;
    }
  });

  it.skipIf(!native)("'auto' is native where the addon loads, said once", async () => {
    const s = selections();
    try {
      current = await startTestPrimary({ worker: app, workers: 1, transport: 'auto' });
      expect((await get(current.port)).status).toBe(200);
      // binary: which addon loaded (built at install, or prebuilt).
      expect(s.seen).toEqual([{ requested: 'auto', transport: 'native', reason: undefined, binary: expect.any(String) }]);
    } finally {
      s.stop();
    }
  });

  it("left out (and no HANDOFF_TRANSPORT), it is 'auto': native where the addon loads, else IPC", async () => {
    const before = process.env.HANDOFF_TRANSPORT;
    delete process.env.HANDOFF_TRANSPORT;
    const s = selections();
    try {
      current = await startTestPrimary({ worker: app, workers: 1 });
      expect((await get(current.port)).status).toBe(200);
      expect(s.seen).toEqual([expect.objectContaining({ requested: 'auto', transport: native ? 'native' : 'ipc' })]);
    } finally {
      s.stop();
      if (before !== undefined) process.env.HANDOFF_TRANSPORT = before;
    }
  });

  it.skipIf(!native)('native: workers whose addon does not load are served over IPC', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, transport: 'native', env: { HANDOFF_FDPASS_DISABLE: '1' } });
    const pids = new Set<number>();
    for (let i = 0; i < 6; i++) pids.add(pidOf((await get(current.port)).body));
    expect(pids.size).toBe(2);
  });

  for (const transport of transports) {
    describe(transport, () => {
      it('says its choice once and spreads connections over the workers', async () => {
        const s = selections();
        try {
          current = await startTestPrimary({ worker: app, workers: 2, transport });
          const pids = new Map<number, number>();
          for (let i = 0; i < 20; i++) {
            const pid = pidOf((await get(current.port)).body);
            pids.set(pid, (pids.get(pid) ?? 0) + 1);
          }
          expect([...pids.values()]).toEqual([10, 10]);
          expect(s.seen).toEqual([{ requested: transport, transport, reason: undefined, ...(transport === 'native' ? { binary: expect.any(String) } : {}) }]);
        } finally {
          s.stop();
        }
      });

      it('a stopped worker holds at most 64 connections unacknowledged, the other serves the rest; once it is killed, its 64 are served too', async () => {
        current = await startTestPrimary({ worker: app, workers: 2, policy: roundRobin(), heartbeatTimeout: 0, transport });
        const p = current;
        const [stopped, other] = p.primary.workers();
        process.kill(stopped!.pid, 'SIGSTOP');
        try {
          const answers: TestResponse[] = [];
          const all = Promise.all(
            Array.from({ length: 150 }, () =>
              get(p.port, { timeout: 30_000 }).then((r) => {
                answers.push(r);
                return r;
              }),
            ),
          );
          await waitFor(() => answers.length >= 150 - 64, 20_000, 20, 'the other worker to serve what the stopped one may not hold');
          // Nothing more comes while the stopped worker sits on its 64.
          await new Promise((r) => setTimeout(r, 300));
          expect(answers.length).toBe(150 - 64);
          expect(answers.every((a) => pidOf(a.body) === other!.pid)).toBe(true);
          // Killed while connections keep coming: its native link ends before its exit is seen, and
          // it must get nothing more then (once it was switched to IPC and sent up to 64 more, which
          // came back only when its channel closed). What it gives back is exactly what it held.
          const given: unknown[] = [];
          const onRedispatch = (m: unknown): void => {
            if ((m as { from: number }).from === stopped!.id) given.push(m);
          };
          channel('handoff:connection:redispatch').subscribe(onRedispatch);
          try {
            process.kill(stopped!.pid, 'SIGKILL');
            const more = await Promise.all(Array.from({ length: 100 }, () => get(p.port, { timeout: 30_000 })));
            const done = await all;
            expect([...done, ...more].every((a) => a.status === 200)).toBe(true);
            expect([...done, ...more].some((a) => pidOf(a.body) === stopped!.pid)).toBe(false);
            expect(given).toHaveLength(64);
          } finally {
            channel('handoff:connection:redispatch').unsubscribe(onRedispatch);
          }
        } finally {
          try {
            process.kill(stopped!.pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
      });
    });
  }
});
