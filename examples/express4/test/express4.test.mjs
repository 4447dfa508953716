import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

describe('examples/express4', () => {
  it('serves the Express 4 app from both workers of a real primary', async () => {
    const { primary, port } = await startPrimary();

    const root = await request(port, '/');
    expect(root.status).toBe(200);
    expect(root.headers['x-powered-by']).toBe('Express');
    expect(root.json.framework).toBe('express4');

    const hello = await request(port, '/hello/handoff');
    expect(hello.json.hello).toBe('handoff');

    const echo = await request(port, '/echo', { method: 'POST', body: { n: 42, s: 'ü' } });
    expect(echo.json.echo).toEqual({ n: 42, s: 'ü' });

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
