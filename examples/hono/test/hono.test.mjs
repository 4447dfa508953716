import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

describe('examples/hono', () => {
  it('serves the Hono app from both workers of a real primary', async () => {
    const { primary, port } = await startPrimary();

    const root = await request(port, '/');
    expect(root.status).toBe(200);
    expect(root.json.framework).toBe('hono');

    const hello = await request(port, '/hello/handoff');
    expect(hello.json.hello).toBe('handoff');

    const echo = await request(port, '/echo', { method: 'POST', body: { n: 42, s: 'ü' } });
    expect(echo.json.echo).toEqual({ n: 42, s: 'ü' });

    const count = await request(port, '/count');
    expect(count.text).toBe('0\n1\n2\n3\n4\n');

    expect((await request(port, '/nope')).status).toBe(404);

    expect(workerPids(primary)).toHaveLength(2);
    expect(sorted(await pidsServing(async () => (await request(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it('answers the global fetch (undici, keep-alive) too', async () => {
    const { primary, port } = await startPrimary();
    const res = await fetch(`http://127.0.0.1:${port}/hello/fetch`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.hello).toBe('fetch');
    expect(workerPids(primary)).toContain(body.pid);
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves', async () => {
    const { child, port } = await startExamplePrimary();
    const served = await pidsServing(async () => (await request(port, '/')).json.pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
