import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPrimary, type Primary } from '../../orchestrator/dist/index.js';
import { roundRobin, sharedHandle, type Policy } from '../../policies/dist/index.js';
import { get, killAll } from '../../../tools/testing/src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/kinds.mjs', import.meta.url));
let dir = '';
let keyFile = '';
let certFile = '';

beforeAll(() => {
  // A self-signed certificate for 127.0.0.1, made for this run.
  dir = mkdtempSync(join(tmpdir(), 'handoff-tls-'));
  keyFile = join(dir, 'key.pem');
  certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let primary: Primary | undefined;
const pids = new Set<number>();
afterEach(async () => {
  await primary?.close({ timeout: 2000 });
  primary = undefined;
  killAll(pids);
  pids.clear();
});

async function start(kind: string, protocol: 'http' | 'tcp' = 'http', extra: { env?: Record<string, string>; policy?: Policy } = {}): Promise<number> {
  primary = createPrimary({
    worker: fixture,
    workers: 2,
    listen: { port: 0, host: '127.0.0.1', protocol },
    env: { SERVER_KIND: kind, KEY_FILE: keyFile, CERT_FILE: certFile, ...extra.env },
    ...(extra.policy !== undefined ? { policy: extra.policy } : {}),
    handleSignals: false,
    readyTimeout: 15_000,
  });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  await primary.start();
  return (primary.addresses()[0] as { port: number }).port;
}

const pidIn = (text: string): number => Number(/pid (\d+)/.exec(text)?.[1]);

function httpsGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: '/', ca: undefined, rejectUnauthorized: false, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function h2Get(url: string, options: http2.SecureClientSessionOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, options);
    session.on('error', reject);
    const req = session.request({ ':path': '/' });
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      session.close();
      resolve(body);
    });
    req.on('error', reject);
    req.end();
  });
}

function echoOnce(port: number, secure: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = secure ? tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }) : netConnect(port, '127.0.0.1');
    let got = '';
    socket.on(secure ? 'secureConnect' : 'connect', () => socket.write('hello handoff\n'));
    socket.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.includes('hello handoff\n')) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

async function bothWorkers(once: () => Promise<string>, check: (text: string) => void): Promise<void> {
  const seen = new Set<number>();
  for (let i = 0; i < 8; i++) {
    const text = await once();
    check(text);
    seen.add(pidIn(text));
  }
  expect(seen.size).toBe(2);
}

describe('serve() for every kind of Node server, through a real primary with 2 workers', () => {
  it('http', async () => {
    const port = await start('http');
    await bothWorkers(async () => (await get(port)).body, (t) => expect(t).toMatch(/^pid \d+ 1\.1/));
  });

  for (const [mode, policy] of [
    ['primary', roundRobin],
    ['shared', sharedHandle],
  ] as const) {
    it(`mode ${mode}: sockets get the server's own options, as its accept would give them (http.Server: TCP_NODELAY)`, async () => {
      const port = await start('http', 'http', { env: { NODELAY_PROBE: '1' }, policy: policy() });
      for (let i = 0; i < 4; i++) expect((await get(port)).body.trim()).toMatch(/^pid \d+ 1\.1 nodelay$/);
    });
  }

  it('https (self-signed certificate made for the test)', async () => {
    const port = await start('https');
    await bothWorkers(() => httpsGet(port), (t) => expect(t).toMatch(/^pid \d+ 1\.1/));
  });

  it('http2 over TLS, and HTTP/1.1 on the same port through allowHTTP1', async () => {
    const port = await start('h2');
    await bothWorkers(() => h2Get(`https://127.0.0.1:${port}`, { rejectUnauthorized: false }), (t) => expect(t).toMatch(/^pid \d+ 2\.0/));
    expect(await httpsGet(port)).toMatch(/^pid \d+ 1\.1/);
  });

  it('cleartext http2', async () => {
    const port = await start('h2c');
    await bothWorkers(() => h2Get(`http://127.0.0.1:${port}`), (t) => expect(t).toMatch(/^pid \d+ 2\.0/));
  });

  it('tls (an echo server)', async () => {
    const port = await start('tls', 'tcp');
    await bothWorkers(() => echoOnce(port, true), (t) => expect(t).toMatch(/^pid \d+\nhello handoff\n$/));
  });

  it('net (a raw TCP echo server)', async () => {
    const port = await start('net', 'tcp');
    await bothWorkers(() => echoOnce(port, false), (t) => expect(t).toMatch(/^pid \d+\nhello handoff\n$/));
  });

  it('a WebSocket server (ws): the upgrade works through handoff', async () => {
    const port = await start('ws');
    await bothWorkers(
      () =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
          const got: string[] = [];
          ws.on('message', (data) => {
            got.push(String(data));
            if (got.length === 1) ws.send('echo me');
            else ws.close();
          });
          ws.on('close', () => resolve(got.join('\n')));
          ws.on('error', reject);
        }),
      (t) => expect(t).toMatch(/^pid \d+\necho me$/),
    );
  });
});
