import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureCert } from '../../https/cert.mjs';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, cleanups } = useExample(new URL('..', import.meta.url));

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
