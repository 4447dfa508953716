import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureCert } from '../cert.mjs';
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

/** Opens an HTTP/2 session (one TLS connection, so one worker) that accepts the self-signed certificate. */
function connect(port) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
    session.once('error', reject);
    session.once('connect', () => resolve(session));
  });
}

/** One GET stream on `session`; resolves with the `:status` and the JSON body. */
function h2get(session, path) {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let status;
    let text = '';
    stream.on('response', (headers) => (status = headers[':status']));
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => (text += chunk));
    stream.on('end', () => resolve({ status, json: JSON.parse(text) }));
    stream.on('error', reject);
    stream.end();
  });
}

/** One GET in its own session, closed after. */
async function h2once(port, path) {
  const session = await connect(port);
  try {
    return await h2get(session, path);
  } finally {
    session.close();
  }
}

/** One HTTP/1.1 GET over TLS on a fresh connection (the server's `allowHTTP1`). */
function h1get(port, path) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, agent: false, rejectUnauthorized: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
}

async function tempCertDir() {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-http2-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  await ensureCert(dir);
  return dir;
}

describe('examples/http2', () => {
  it('serves HTTP/2 over TLS from both workers of a real primary; streams of one session stay on one worker', async () => {
    const { primary, port } = await startPrimary({ env: { CERT_DIR: await tempCertDir() } });

    const session = await connect(port);
    expect(session.alpnProtocol).toBe('h2');
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => h2get(session, `/stream/${i}`)));
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(replies.map((r) => r.json.path)).toEqual(Array.from({ length: 10 }, (_, i) => `/stream/${i}`));
    expect(replies.every((r) => r.json.httpVersion === '2.0' && r.json.alpn === 'h2')).toBe(true);
    expect(new Set(replies.map((r) => r.json.pid)).size).toBe(1); // one session, one connection, one worker
    session.close();

    expect(workerPids(primary)).toHaveLength(2);
    expect(sorted(await pidsServing(async () => (await h2once(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it('answers HTTP/1.1 clients on the same port (allowHTTP1)', async () => {
    const { primary, port } = await startPrimary({ env: { CERT_DIR: await tempCertDir() } });
    const res = await h1get(port, '/one');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ example: 'http2', path: '/one', httpVersion: '1.1' });
    expect(sorted(await pidsServing(async () => (await h1get(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it('sends GOAWAY to an open HTTP/2 session when the primary drains', async () => {
    const { primary, port } = await startPrimary({ env: { CERT_DIR: await tempCertDir() } });
    const session = await connect(port);
    expect((await h2get(session, '/')).status).toBe(200);
    const goaway = new Promise((resolve) => session.once('goaway', (code) => resolve(code)));
    const closing = primary.close({ timeout: 5000 });
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    await closing;
    session.destroy();
  });

  it('runs as its README says: `node primary.mjs` makes a certificate, prints its address and serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-http2-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { child, port } = await startExamplePrimary({ CERT_DIR: dir });
    const served = await pidsServing(async () => (await h2once(port, '/')).json.pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
