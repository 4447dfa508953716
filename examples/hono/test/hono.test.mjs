import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { afterEach } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';

const workerUrl = new URL('../worker.mjs', import.meta.url);
const primaryPath = new URL('../primary.mjs', import.meta.url);

/** Every pid a test started (workers, and the example's own primary): killed in afterEach. */
const pids = new Set();
const cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  pids.clear();
});

/** Starts a real primary with 2 workers on 127.0.0.1, port 0; returns it and its port. */
async function startPrimary(options = {}) {
  const { listen, ...rest } = options;
  const primary = createPrimary({
    worker: workerUrl,
    workers: 2,
    listen: { port: 0, host: '127.0.0.1', ...listen },
    readyTimeout: 15_000,
    drainTimeout: 3000,
    handleSignals: false,
    ...rest,
  });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  cleanups.push(() => Promise.race([primary.close({ timeout: 2000 }), new Promise((r) => setTimeout(r, 8000))]));
  await primary.start();
  return { primary, port: primary.addresses()[0].port };
}

/** Runs `node primary.mjs` with PORT=0 (and `env`) as the README does; resolves with the port it prints. */
async function startExamplePrimary(env = {}) {
  const child = spawn(process.execPath, [primaryPath.pathname], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  pids.add(child.pid);
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on [a-z]+:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`primary.mjs exited with ${code} before listening: ${out}`)));
  });
  return { child, port };
}

/** Calls `pidOnce()` (one exchange on a fresh connection) until two different pids answered, at most 20 times. */
async function pidsServing(pidOnce) {
  const seen = new Set();
  for (let i = 0; i < 20 && seen.size < 2; i++) seen.add(await pidOnce());
  for (const pid of seen) pids.add(pid);
  return seen;
}

/** The pids of the primary's workers, sorted. */
function workerPids(primary) {
  return primary.workers().map((w) => w.pid).sort((a, b) => a - b);
}

function sorted(set) {
  return [...set].sort((a, b) => a - b);
}

/** One HTTP request on a fresh connection (no keep-alive), so each one is handed to a worker anew. */
function request(port, path, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json' };
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text, json: res.headers['content-type']?.includes('json') ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

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
