import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureCert } from '../cert.mjs';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, cleanups } = useExample(new URL('..', import.meta.url));

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
