import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

describe('examples/fastify', () => {
  it('serves the Fastify 5 app from both workers of a real primary', async () => {
    const { primary, port } = await startPrimary();

    const root = await request(port, '/');
    expect(root.status).toBe(200);
    expect(root.json.framework).toBe('fastify');

    const hello = await request(port, '/hello/handoff');
    expect(hello.json.hello).toBe('handoff');

    const echo = await request(port, '/echo', { method: 'POST', body: { n: 42, s: 'ü' } });
    expect(echo.json.echo).toEqual({ n: 42, s: 'ü' });

    const missing = await request(port, '/nope');
    expect(missing.status).toBe(404);

    expect(workerPids(primary)).toHaveLength(2);
    expect(sorted(await pidsServing(async () => (await request(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it("runs Fastify's own close() (its onClose hooks) in each worker when the primary drains", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-fastify-'));
    const log = join(dir, 'closed');
    try {
      const { primary, port } = await startPrimary({ env: { FASTIFY_CLOSE_LOG: log } });
      const served = await pidsServing(async () => (await request(port, '/')).json.pid);
      expect(served.size).toBe(2);
      const exits = [];
      primary.on('worker:exit', (w, exit) => exits.push({ pid: w.pid, ...exit }));
      await primary.close({ timeout: 5000 });
      const closed = readFileSync(log, 'utf8').trim().split('\n').map(Number).sort((a, b) => a - b);
      expect(closed).toEqual(sorted(served));
      expect(exits.map((e) => e.expected)).toEqual([true, true]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves', async () => {
    const { child, port } = await startExamplePrimary();
    const served = await pidsServing(async () => (await request(port, '/')).json.pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
