import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createPrimaryTransport, FdpassErrorCode, MAX_PAYLOAD_BYTES, nativeStatus, type Acceptor, type Connection, type TransportName } from '../src/index.js';
import { digest, fdCount, get, isStopped, listening, load, onCleanup, startWorker, TestDispatcher } from './helpers.js';

const native = nativeStatus();
const transports: TransportName[] = native.available ? ['native', 'ipc'] : ['ipc'];
if (!native.available) console.warn(`@handoff/fdpass: native transport tests skipped: ${native.reason}`);
const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

const POLL = { timeout: 20_000, interval: 20 };

/** A connection that no acceptor made (for refusals that happen before anything is sent). */
function acceptorless(): Connection {
  return { id: 0, listener: 0, kind: 'tcp', fd: 1_000_000, handle: { close() {} }, remoteAddress: undefined, remotePort: undefined, family: undefined, attempts: 0, payload: undefined };
}

describe.each(transports)('transport %s', (name) => {
  function setup(options: { cap?: number } = {}) {
    const transport = createPrimaryTransport({ transport: name, ...options });
    const dispatcher = new TestDispatcher();
    return { transport, dispatcher };
  }

  function accept(acceptor: Acceptor): Acceptor {
    onCleanup(() => acceptor.close());
    return acceptor;
  }

  it('serves 2,000 loopback connections through two workers, acknowledges every one, and leaks no fd', async () => {
    const { transport, dispatcher } = setup();
    const a = startWorker(transport, dispatcher);
    const b = startWorker(transport, dispatcher);
    expect((await a.ready).transport).toBe(name);
    expect((await b.ready).transport).toBe(name);
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = accept(transport.listen(server, { listener: 3, onConnection: (c) => dispatcher.place(c) }));
    const port = (acceptor.address as { port: number }).port;
    const baseline = fdCount();

    const byPid = await load({ port, host: '127.0.0.1' }, 2000, 16);

    expect([...byPid.keys()].sort()).toEqual([String(a.pid), String(b.pid)].sort());
    expect([...byPid.values()].reduce((x, y) => x + y)).toBe(2000);
    await expect.poll(() => a.link.unacknowledged + b.link.unacknowledged, POLL).toBe(0);
    expect(a.link.stats().acknowledged + b.link.stats().acknowledged).toBe(2000);
    expect(a.link.stats().sent).toBe(a.link.stats().acknowledged);
    expect(acceptor.stats().accepted).toBe(2000);
    const worker = await a.stats();
    expect(worker.stats.received).toBe(a.link.stats().sent);
    // One ack per worker wake-up, never more than one per batch.
    if (name === 'native') expect(worker.stats.acks).toBeLessThanOrEqual(a.link.stats().batches);
    // Every connection's fd in the primary is closed again once its worker acknowledged it.
    await expect.poll(fdCount, POLL).toBe(baseline);
    expect((await get({ port, host: '127.0.0.1' })).listener).toBe('3');
  });

  it('caps what a stopped worker holds and places its unacknowledged connections elsewhere when it is killed', async () => {
    const cap = 8;
    const { transport, dispatcher } = setup({ cap });
    const stopped = startWorker(transport, dispatcher);
    const other = startWorker(transport, dispatcher);
    await stopped.ready;
    await other.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = accept(transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) }));
    const port = (acceptor.address as { port: number }).port;
    process.kill(stopped.pid, 'SIGSTOP');
    await expect.poll(() => isStopped(stopped.pid), POLL).toBe(true);
    dispatcher.only = stopped.link;

    const responses = Array.from({ length: cap + 4 }, () => get({ port, host: '127.0.0.1' }));
    await expect.poll(() => dispatcher.waiting.length, POLL).toBe(4);
    expect(stopped.link.unacknowledged).toBe(cap);
    expect(other.link.stats().sent).toBe(0);

    process.kill(stopped.pid, 'SIGKILL');
    const answered = await Promise.all(responses);
    expect(answered.map((r) => r.body)).toEqual(Array(cap + 4).fill(String(other.pid)));
    // Exactly what it held came back, each connection tried a second time.
    expect(dispatcher.returned).toHaveLength(cap);
    expect(dispatcher.returned.every((c) => c.attempts === 2)).toBe(true);
    expect(stopped.link.closed).toBe(true);
    await expect.poll(() => other.link.unacknowledged, POLL).toBe(0);
  });

  it('lets the primary answer a connection itself, or close it', async () => {
    const { transport } = setup();
    const server = await listening({ port: 0, host: '127.0.0.1' });
    let refuse = true;
    const acceptor = accept(
      transport.listen(server, {
        listener: 0,
        onConnection: (c) => {
          if (!refuse) return transport.destroy(c);
          const socket = transport.toSocket(c);
          socket.resume(); // read the request: closing with unread bytes would reset the answer
          socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        },
      }),
    );
    const port = (acceptor.address as { port: number }).port;
    expect((await get({ port, host: '127.0.0.1' })).status).toBe(503);
    refuse = false;
    await expect(get({ port, host: '127.0.0.1' })).rejects.toThrow();
  });

  it('carries TLS connections served with HTTP/2 and HTTP/1.1', async () => {
    const { transport, dispatcher } = setup();
    const w = startWorker(transport, dispatcher, { FIXTURE_MODE: 'tls' });
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = accept(transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) }));
    const port = (acceptor.address as { port: number }).port;
    const ca = readFileSync(new URL('./fixtures/localhost.pem', import.meta.url));
    const h1 = await new Promise<string>((resolve, reject) => {
      httpsGet({ host: '127.0.0.1', port, path: '/', ca, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve(`${res.httpVersion} ${body}`));
      }).on('error', reject);
    });
    expect(h1).toBe(`1.1 ${w.pid}`);
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
    onCleanup(() => session.close());
    const h2 = await new Promise<string>((resolve, reject) => {
      const req = session.request({ ':path': '/' });
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });
    expect(h2).toBe(String(w.pid));
  });

  it('carries a payload with a connection (past the native link\'s 64 KiB on the IPC channel beside it), and none where none was set', async () => {
    const { transport, dispatcher } = setup();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const payloads = [Buffer.from('PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n'), undefined, Buffer.alloc(65536, 7), Buffer.alloc(1, 1), Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 9)];
    let n = 0;
    const acceptor = accept(
      transport.listen(server, {
        listener: 0,
        onConnection: (c) => {
          c.payload = payloads[n++ % payloads.length];
          dispatcher.place(c);
        },
      }),
    );
    const port = (acceptor.address as { port: number }).port;
    for (const p of payloads) expect((await get({ port, host: '127.0.0.1' })).payload).toBe(p === undefined ? 'none' : digest(p));
    await expect.poll(() => w.link.unacknowledged, POLL).toBe(0);
    // The link stays on its transport: only that connection took the channel.
    expect(w.link.transport).toBe(transport.name);
  });

  it('carries Unix-socket connections and leaves the socket path in place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fdpass-'));
    onCleanup(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 's.sock');
    const { transport, dispatcher } = setup();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    const server = await listening({ path });
    const acceptor = accept(transport.listen(server, { listener: 1, peer: true, onConnection: (c) => dispatcher.place(c) }));
    expect(acceptor.address).toBe(path);
    for (let i = 0; i < 20; i++) expect(await get({ socketPath: path })).toMatchObject({ status: 200, body: String(w.pid), listener: '1' });
    expect(existsSync(path)).toBe(true);
    await expect.poll(() => w.link.unacknowledged, POLL).toBe(0);
  });

  it('carries IPv6 connections, with the peer from accept when asked', async (ctx) => {
    const { transport, dispatcher } = setup();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    let server;
    try {
      server = await listening({ port: 0, host: '::1', ipv6Only: true });
    } catch {
      ctx.skip();
      return;
    }
    const peers: Array<{ address: string | undefined; port: number | undefined; family: string | undefined }> = [];
    const acceptor = accept(
      transport.listen(server, {
        listener: 0,
        peer: true,
        onConnection: (c) => {
          peers.push({ address: c.remoteAddress, port: c.remotePort, family: c.family });
          dispatcher.place(c);
        },
      }),
    );
    const port = (acceptor.address as { port: number }).port;
    const client: Socket = connect({ port, host: '::1' });
    await once(client, 'connect');
    const localPort = client.localPort;
    client.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let text = '';
    client.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await once(client, 'close');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    expect(peers).toEqual([{ address: '::1', port: localPort, family: 'IPv6' }]);
  });
});

describe('transport selection', () => {
  it.runIf(process.env.HANDOFF_FDPASS_REQUIRE === '1')('has the native transport where HANDOFF_FDPASS_REQUIRE=1 says it must', () => {
    expect(native).toMatchObject({ available: true, reason: undefined });
    // Which addon loaded: the one built at install, or a prebuilt one.
    expect(typeof native.binary).toBe('string');
  });

  it('falls back to IPC under auto where the addon does not load, and refuses native there', () => {
    const script = `
      import { channel } from 'node:diagnostics_channel';
      const seen = [];
      channel('handoff:transport:selected').subscribe((m) => seen.push(m));
      const { createPrimaryTransport, nativeStatus } = await import(${JSON.stringify(dist)});
      const auto = createPrimaryTransport();
      let code;
      try { createPrimaryTransport({ transport: 'native' }); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ status: nativeStatus(), name: auto.name, reason: auto.fallbackReason, code, seen }));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, HANDOFF_FDPASS_DISABLE: '1' }, encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual({
      status: { available: false, reason: 'HANDOFF_FDPASS_DISABLE=1' },
      name: 'ipc',
      reason: 'HANDOFF_FDPASS_DISABLE=1',
      code: 'HANDOFF_ERR_FDPASS_UNAVAILABLE',
      seen: [{ requested: 'auto', transport: 'ipc', reason: 'HANDOFF_FDPASS_DISABLE=1' }],
    });
  });

});

describe('IPC link', () => {
  it("counts a handle posted on the IPC channel as no connection's, so none is taken for acknowledged early", async () => {
    const transport = createPrimaryTransport({ transport: 'ipc' });
    const dispatcher = new TestDispatcher();
    const a = startWorker(transport, dispatcher);
    await a.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    process.kill(a.pid, 'SIGSTOP');
    await expect.poll(() => isStopped(a.pid), POLL).toBe(true);
    // Another handle (as a shared listening socket is) goes first; the connection waits behind it
    // in Node's queue until the worker acknowledges that handle.
    const other = await listening({ port: 0, host: '127.0.0.1' });
    a.link.post!({ cmd: 'NODE_HANDOFF_TEST_OTHER' }, (other as unknown as { _handle: unknown })._handle);
    const response = get({ port, host: '127.0.0.1' });
    await expect.poll(() => a.link.unacknowledged, POLL).toBe(1);
    // At the other handle's acknowledgement the connection is still unacknowledged: taken for
    // acknowledged there, its copy would be closed and a death of the worker would lose it.
    const seen: number[] = [];
    a.child.on('internalMessage', (m: { cmd?: string }) => {
      if (m?.cmd === 'NODE_HANDLE_ACK') seen.push(a.link.unacknowledged);
    });
    process.kill(a.pid, 'SIGCONT');
    expect((await response).body).toBe(String(a.pid));
    await expect.poll(() => seen.length, POLL).toBe(2);
    expect(seen).toEqual([1, 0]);
    expect(a.link.stats()).toMatchObject({ sent: 1, acknowledged: 1, unacknowledged: 0, acks: 2 });
  });

  it('gives back a connection whose handle the worker answered with NODE_HANDLE_NACK, and Node does not resend it', async () => {
    const transport = createPrimaryTransport({ transport: 'ipc' });
    const dispatcher = new TestDispatcher();
    const nacking = startWorker(transport, dispatcher, { FIXTURE_MODE: 'nack-first' });
    await nacking.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    const response = await get({ port, host: '127.0.0.1' });
    // Placed again (on the same worker: it is the only one), and served once.
    expect(response).toMatchObject({ status: 200, body: String(nacking.pid) });
    expect(dispatcher.returned).toHaveLength(1);
    expect(nacking.link.stats()).toMatchObject({ sent: 2, acknowledged: 1, unacknowledged: 0, acks: 2 });
    expect((await nacking.stats()).stats.received).toBe(2);
  });
});
