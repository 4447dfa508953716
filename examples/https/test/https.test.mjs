import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
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

/** One HTTPS GET on a fresh connection; resolves with the status, the JSON body and the server's certificate. */
function get(port, path, tlsOptions = { rejectUnauthorized: false }) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, agent: false, ...tlsOptions }, (res) => {
      const peer = res.socket.getPeerCertificate();
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text), peer }));
    });
    req.on('error', reject);
  });
}

/** A certificate generated for this test, in a temp dir the workers read through CERT_DIR. */
async function testCert() {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-https-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const { cert } = await ensureCert(dir);
  return { dir, x509: new X509Certificate(cert) };
}

describe('examples/https', () => {
  it('terminates TLS in both workers of a real primary with the certificate made for the test', async () => {
    const { dir, x509 } = await testCert();
    const { primary, port } = await startPrimary({ env: { CERT_DIR: dir } });

    const res = await get(port, '/hello?x=1');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ example: 'https', url: '/hello?x=1', encrypted: true });
    expect(res.json.tls).toMatch(/^TLSv1\.[23]$/);
    expect(res.peer.fingerprint256).toBe(x509.fingerprint256);

    expect(workerPids(primary)).toHaveLength(2);
    expect(sorted(await pidsServing(async () => (await get(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it('passes full verification (hostname 127.0.0.1 and localhost) when the client trusts that certificate', async () => {
    const { dir, x509 } = await testCert();
    const { port } = await startPrimary({ env: { CERT_DIR: dir } });
    const ca = x509.toString();
    expect((await get(port, '/', { ca })).json.encrypted).toBe(true);
    expect((await get(port, '/', { ca, servername: 'localhost' })).json.encrypted).toBe(true);
    await expect(get(port, '/', { rejectUnauthorized: true })).rejects.toThrow(/self[- ]signed/i);
  });

  it('falls back to the selfsigned package when there is no openssl CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-https-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = process.env.PATH;
    process.env.PATH = dir; // no openssl there
    let pem;
    try {
      pem = await ensureCert(dir);
    } finally {
      process.env.PATH = path;
    }
    const x509 = new X509Certificate(pem.cert);
    expect(x509.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x509.checkPrivateKey(createPrivateKey(pem.key))).toBe(true);
    const { port } = await startPrimary({ env: { CERT_DIR: dir } });
    const res = await get(port, '/', { ca: x509.toString() });
    expect(res.peer.fingerprint256).toBe(x509.fingerprint256);
  });

  it('runs as its README says: `node primary.mjs` makes a certificate, prints its address and serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-https-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { child, port } = await startExamplePrimary({ CERT_DIR: dir });
    const served = await pidsServing(async () => (await get(port, '/')).json.pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
