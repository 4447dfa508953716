// A drain the primary starts (close, reload, scale down) reaches an app that handles SIGTERM itself
// as that SIGTERM, as its process manager would send it alone: its own shutdown runs to the end and
// decides when the process exits. An app without such a listener drains and exits as before, even
// with a timer that would keep a listening process alive.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary, type Primary } from '../../orchestrator/dist/index.js';
import { killAll, waitFor } from '../../../tools/testing/src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/signal-app.mjs', import.meta.url));
let primary: Primary | undefined;
const pids = new Set<number>();

afterEach(async () => {
  await primary?.close({ timeout: 1000 });
  primary = undefined;
  killAll(pids);
  pids.clear();
});

interface Run {
  stderr: Map<number, string>;
  exits: Array<{ pid: number; code: number | null; signal: string | null; expected: boolean }>;
  workers: number[];
}

/** Starts 2 workers of the fixture with `env`, closes the primary, and says what each worker wrote and how it exited. */
async function closeWith(env: Record<string, string>, drainTimeout: number): Promise<Run> {
  primary = createPrimary({ worker: fixture, workers: 2, listen: { port: 0, host: '127.0.0.1' }, env, handleSignals: false, drainTimeout, output: 'pipe' });
  const stderr = new Map<number, string>();
  const exits: Run['exits'] = [];
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  primary.on('worker:output', (w, { stream, chunk }) => {
    if (stream === 'stderr') stderr.set(w.pid, (stderr.get(w.pid) ?? '') + chunk.toString());
  });
  primary.on('worker:exit', (w, exit) => exits.push({ pid: w.pid, ...exit }));
  await primary.start();
  const workers = primary.workers().map((w) => w.pid);
  await primary.close({ timeout: drainTimeout });
  return { stderr, exits, workers };
}

describe("a drain reaches the app's own SIGTERM listener", () => {
  it('an app that handles SIGTERM gets it when its worker drains, and its cleanup after the close runs to the end', async () => {
    const { stderr, exits, workers } = await closeWith({ APP_SIGTERM: '1' }, 10_000);
    expect(exits.map((e) => e.pid).sort()).toEqual([...workers].sort());
    for (const pid of workers) {
      expect(stderr.get(pid)).toBe(`app ${pid}: SIGTERM\napp ${pid}: cleaned up\n`);
      // It exited itself (process.exit(0) after its cleanup), not at the drain's deadline.
      expect(exits.find((e) => e.pid === pid)).toMatchObject({ code: 0, signal: null, expected: true });
    }
  });

  // Without the app's own listener, the worker exits once drained: a timer the app never clears does
  // not hold it until the deadline (60 s here, past this test's own timeout).
  for (const [name, env] of [
    ['an app without a SIGTERM listener', { STRAY_TIMER: '1' }],
    ["an app whose only SIGTERM listener is handoff's own (the `handoff` command's preload)", { STRAY_TIMER: '1', OWN_LISTENER: '1' }],
  ] as const) {
    it(`${name} is not signalled: it drains and exits as before`, async () => {
      const { stderr, exits, workers } = await closeWith(env, 60_000);
      expect(exits.map((e) => e.pid).sort()).toEqual([...workers].sort());
      expect(exits.every((e) => e.code === 0 && e.expected)).toBe(true);
      for (const pid of workers) expect(stderr.get(pid) ?? '').toBe('');
    }, 20_000);
  }

  it("SIGTERM to one worker alone whose only other listener is handoff's own (the `handoff` command's preload): it drains and is replaced", async () => {
    primary = createPrimary({ worker: fixture, workers: 2, listen: { port: 0, host: '127.0.0.1' }, env: { OWN_LISTENER: '1' }, handleSignals: false, drainTimeout: 5000 });
    primary.on('worker:spawn', (w) => pids.add(w.pid));
    const recycled: Array<{ pid: number; reason: string }> = [];
    primary.on('worker:recycle', (w, { reason }) => recycled.push({ pid: w.pid, reason }));
    await primary.start();
    const [victim] = primary.workers().map((w) => w.pid);
    process.kill(victim!, 'SIGTERM');
    await waitFor(() => primary!.workers().length === 2 && primary!.workers().every((w) => w.state === 'ready' && w.pid !== victim), 10_000, 20, 'the replacement');
    expect(recycled).toEqual([{ pid: victim, reason: 'signal' }]);
  });
});
