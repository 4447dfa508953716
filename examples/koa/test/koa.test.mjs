import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

describe('examples/koa', () => {
  it('serves the Koa app from both workers of a real primary', async () => {
    const { primary, port } = await startPrimary();

    const root = await request(port, '/');
    expect(root.status).toBe(200);
    expect(root.json.framework).toBe('koa');
    expect(root.headers['x-response-time']).toMatch(/ms$/);

    const hello = await request(port, '/hello/handoff');
    expect(hello.json.hello).toBe('handoff');

    const echo = await request(port, '/echo', { method: 'POST', body: { n: 42, s: 'ü' } });
    expect(echo.json.echo).toEqual({ n: 42, s: 'ü' });

    const fail = await request(port, '/fail');
    expect(fail.status).toBe(418);
    expect(fail.text).toBe('no coffee here');

    expect((await request(port, '/nope')).status).toBe(404);

    expect(workerPids(primary)).toHaveLength(2);
    expect(sorted(await pidsServing(async () => (await request(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves', async () => {
    const { child, port } = await startExamplePrimary();
    const served = await pidsServing(async () => (await request(port, '/')).json.pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
