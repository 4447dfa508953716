// A stdout or stderr that goes away (issue 15, item 5): the primary piped into `head -n 1`, a log
// collector that dies. EPIPE kills neither the primary nor its workers, no connection is lost,
// what is written afterwards is dropped and serving goes on.
import { afterEach, describe, expect, it } from 'vitest';
import { get, isAlive, killAll } from '../../../tools/testing/src/index.js';
import { spawnChildPrimary, type ChildPrimary } from './child-primary.js';

let child: ChildPrimary | undefined;
afterEach(() => {
  if (child !== undefined) killAll([child.pid, ...child.pids]);
  child = undefined;
});

describe('a stdout and stderr that go away', () => {
  for (const output of ['inherit', 'pipe'] as const) {
    it(`output '${output}': workers that log every request, the reader of the primary's stdout and stderr gone: every request served, no process dies`, async () => {
      child = await spawnChildPrimary({ WORKERS: '2', OUTPUT: output, LOG_REQUESTS: '1' }, ['ignore', 'pipe', 'pipe', 'ipc']);
      const { port, pid } = child;
      let seen = '';
      child.child.stdout!.on('data', (c: Buffer) => (seen += c.toString()));
      for (let i = 0; i < 4; i++) expect((await get(port)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toContain('GET /');
      const before = (await child.stats()).workers.map((w) => w.pid);
      // `| head -n 1` has read its line and exited: both pipes lose their reader.
      child.child.stdout!.destroy();
      child.child.stderr!.destroy();
      const statuses: number[] = [];
      for (let i = 0; i < 60; i++) statuses.push((await get(port, { close: i % 2 === 0 })).status);
      await new Promise((r) => setTimeout(r, 300));
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect(isAlive(pid)).toBe(true);
      const after = (await child.stats()).workers;
      expect(after.map((w) => w.pid)).toEqual(before);
      expect(child.events.filter((e) => 'spawn' in e)).toHaveLength(2);
    });
  }
});
