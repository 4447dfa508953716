import { channel } from 'node:diagnostics_channel';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ipHash, reusePort, roundRobin, sharedHandle, type Policy } from '@handoff/policies';
import { createPrimary, reusePortSupported, type ProxyRefusal } from '@handoff/orchestrator';
import { encodeProxyHeader, proxyTlv, type ProxyHeaderInit } from '@handoff/proxy-protocol';
import { startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';
import { proxyApp } from './helpers.js';

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

interface Answer {
  readonly pid: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: string;
  readonly proxy: { remoteAddress: string; version: number; command: string; authority: string | null; alpn: string | null; uniqueId: string | null } | null;
  readonly body: string;
  /** The worker's refusals so far (kernel modes), by code. */
  readonly refused: readonly string[];
}

/** Sends `bytes` on a fresh connection and resolves with all the server wrote back before it closed. */
function exchange(port: number, bytes: Uint8Array, options: { localAddress?: string; end?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(Buffer.concat(chunks).toString()) : reject(error)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.setTimeout(10_000, () => socket.destroy(new Error('exchange timed out')));
    socket.write(bytes);
    if (options.end === true) socket.end();
  });
}

function request(body = ''): Buffer {
  return Buffer.from(`POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

function answerOf(response: string): Answer {
  const json = response.slice(response.indexOf('\r\n\r\n') + 4);
  return JSON.parse(json) as Answer;
}

const client = (address: string, port: number): ProxyHeaderInit['source'] => ({ family: 'IPv4', address, port });
const v2 = (from: string, port: number, tlvs = [proxyTlv.authority('app.example'), proxyTlv.alpn('http/1.1'), proxyTlv.uniqueId('conn-1')]) =>
  encodeProxyHeader({ version: 2, source: client(from, port), destination: client('192.0.2.1', 443), tlvs, checksum: true });

async function start(policy: Policy, proxyProtocol: unknown, workers = 2, env: Record<string, string> = {}): Promise<TestPrimary> {
  current = await startTestPrimary({ worker: proxyApp, workers, policy, env, listen: { port: 0, host: '127.0.0.1', proxyProtocol } as never });
  return current;
}

/** A PROXY header in clear, then TLS on the same connection (as HAProxy in TCP mode relays https). */
function exchangeTls(port: number, header: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ port, host: '127.0.0.1' }, () => {
      raw.write(header);
      const secure = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => secure.write(request('tls')));
      const chunks: Buffer[] = [];
      secure.on('data', (chunk: Buffer) => chunks.push(chunk));
      secure.on('error', reject);
      secure.on('close', () => resolve(Buffer.concat(chunks).toString()));
    });
    raw.on('error', reject);
  });
}

// reuseport where this Node has it (CI runs the suite on Node 24 too).
const modes: Array<readonly [string, () => Policy]> = [
  ['primary', roundRobin],
  ['shared', sharedHandle],
  ...(reusePortSupported() ? [['reuseport', reusePort] as const] : []),
];

describe.each(modes)('PROXY protocol, mode %s', (_mode, policy) => {
  it('the app sees the client the header names, the proxy as socket.proxy, and the bytes after the header untouched', async () => {
    const p = await start(policy(), { trusted: ['127.0.0.0/8'] });
    const body = 'x'.repeat(70_000); // more than one read after the header
    const answer = answerOf(await exchange(p.port, Buffer.concat([v2('203.0.113.7', 51234), request(body)])));
    expect(answer).toMatchObject({ remoteAddress: '203.0.113.7', remotePort: 51234, remoteFamily: 'IPv4' });
    expect(answer.proxy).toEqual({ remoteAddress: '127.0.0.1', version: 2, command: 'proxy', authority: 'app.example', alpn: 'http/1.1', uniqueId: 'conn-1' });
    expect(Buffer.from(answer.body, 'base64').toString()).toBe(body);
    // v1 as well, and IPv6 sources.
    const v1 = encodeProxyHeader({ version: 1, source: { family: 'IPv6', address: '2001:db8::7', port: 1 }, destination: { family: 'IPv6', address: '2001:db8::1', port: 80 } });
    expect(answerOf(await exchange(p.port, Buffer.concat([v1, request('v1')])))).toMatchObject({ remoteAddress: '2001:db8::7', remotePort: 1, remoteFamily: 'IPv6', body: Buffer.from('v1').toString('base64') });
  });

  it('an https app sees the client too (its TLSSocket asks the handle)', async () => {
    const p = await start(policy(), true, 1, { PROXY_APP_TLS: '1' });
    const answer = answerOf(await exchangeTls(p.port, v2('203.0.113.9', 4443)));
    expect(answer).toMatchObject({ remoteAddress: '203.0.113.9', remotePort: 4443, remoteFamily: 'IPv4', body: Buffer.from('tls').toString('base64') });
  });

  it('a LOCAL header (a health check) keeps the connection\'s own addresses', async () => {
    const p = await start(policy(), true);
    const answer = answerOf(await exchange(p.port, Buffer.concat([encodeProxyHeader({ version: 2, command: 'local' }), request()])));
    expect(answer.remoteAddress).toBe('127.0.0.1');
    expect(answer.proxy).toMatchObject({ command: 'local', remoteAddress: '127.0.0.1' });
  });

  it('closes a connection with no header, a malformed or oversized one, a late one, or one from outside trusted: the app never sees it', async () => {
    const refused: ProxyRefusal[] = [];
    const p = await start(policy(), { trusted: ['127.0.0.1/32'], timeout: 300, maxHeaderBytes: 512 }, 1);
    p.primary.on('connection:proxy-refused', (r) => refused.push(r));
    const oversized = encodeProxyHeader({ version: 2, source: client('10.0.0.1', 1), destination: client('10.0.0.2', 2), tlvs: [{ type: 0xe0, value: new Uint8Array(600) }] });
    const bad = Buffer.from(v2('203.0.113.7', 1));
    bad[17] = bad[17]! ^ 1; // breaks the CRC32C: a forged source
    expect(await exchange(p.port, request())).toBe('');
    expect(await exchange(p.port, Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'))).toBe('');
    expect(await exchange(p.port, Buffer.concat([oversized, request()]))).toBe('');
    expect(await exchange(p.port, Buffer.concat([bad, request()]))).toBe('');
    const t0 = Date.now();
    expect(await exchange(p.port, v2('203.0.113.7', 1).subarray(0, 20))).toBe('');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(await exchange(p.port, Buffer.concat([v2('203.0.113.7', 1), request()]), { localAddress: '127.0.0.2' })).toBe('');
    // A good one still goes through.
    const good = answerOf(await exchange(p.port, Buffer.concat([v2('203.0.113.8', 2), request()])));
    expect(good.remoteAddress).toBe('203.0.113.8');
    const codes = ['HANDOFF_ERR_PROXY_SIGNATURE', 'HANDOFF_ERR_PROXY_V1_MALFORMED', 'HANDOFF_ERR_PROXY_TOO_LARGE', 'HANDOFF_ERR_PROXY_CHECKSUM', 'HANDOFF_ERR_PROXY_TIMEOUT', 'HANDOFF_ERR_PROXY_UNTRUSTED'];
    // Kernel modes: the worker read the headers, and published each refusal in its own process.
    expect(good.refused).toEqual(_mode === 'primary' ? [] : codes);
    const counts = Object.fromEntries(codes.map((c) => [c, 1]));
    if (_mode === 'primary') {
      expect(refused.map((r) => r.code)).toEqual(codes);
      expect(refused.at(-1)).toMatchObject({ listener: 0, remoteAddress: '127.0.0.2' });
      expect(p.primary.stats().proxyRefused).toEqual(counts);
    } else {
      // ...and its load reports brought the counts to the primary, whose stats (and /metrics) count them.
      await waitFor(() => Object.keys(p.primary.stats().proxyRefused).length === codes.length, 3000, 20, 'the worker to report its refusals');
      expect(p.primary.stats().proxyRefused).toEqual(counts);
    }
  });
});

describe('PROXY protocol, mode primary', () => {
  it('ipHash picks by the client the header names: each client sticks to one worker for 50 connections, and two clients spread', async () => {
    const p = await start(ipHash(), { trusted: ['127.0.0.0/8'] }, 4);
    const workersOf = new Map<string, Set<number>>();
    for (const from of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5', '198.51.100.6']) {
      const pids = new Set<number>();
      for (let i = 0; i < 50; i++) pids.add(answerOf(await exchange(p.port, Buffer.concat([v2(from, 1000 + i), request()]))).pid);
      workersOf.set(from, pids);
    }
    for (const pids of workersOf.values()) expect(pids.size).toBe(1);
    // All connections come from 127.0.0.1: only the headers tell the clients apart.
    expect(new Set([...workersOf.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
  });

  it('closes one more connection at once while maxPending are still sending their header, and takes new ones once they are gone', async () => {
    const codes: string[] = [];
    const p = await start(roundRobin(), { timeout: 1000, maxPending: 2 }, 1);
    p.primary.on('connection:proxy-refused', (r) => codes.push(r.code));
    const slow = [net.connect(p.port, '127.0.0.1'), net.connect(p.port, '127.0.0.1')];
    for (const socket of slow) {
      socket.on('error', () => {});
      socket.write(v2('203.0.113.1', 1).subarray(0, 10));
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(await exchange(p.port, Buffer.concat([v2('203.0.113.2', 2), request()]))).toBe('');
    // At once: refused as busy (the code says why), before either slow one reached its timeout.
    expect(codes).toEqual(['HANDOFF_ERR_PROXY_BUSY']);
    await waitFor(() => codes.length === 3, 5000);
    expect(codes.slice(1)).toEqual(['HANDOFF_ERR_PROXY_TIMEOUT', 'HANDOFF_ERR_PROXY_TIMEOUT']);
    expect(answerOf(await exchange(p.port, Buffer.concat([v2('203.0.113.3', 3), request()]))).remoteAddress).toBe('203.0.113.3');
    for (const socket of slow) socket.destroy();
  });

  it('publishes each refusal on handoff:connection:proxy-refused', async () => {
    const seen: unknown[] = [];
    const onMessage = (message: unknown): void => void seen.push(message);
    channel('handoff:connection:proxy-refused').subscribe(onMessage);
    try {
      const p = await start(roundRobin(), true, 1);
      await exchange(p.port, Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await waitFor(() => seen.length === 1, 5000);
      expect(seen[0]).toMatchObject({ listener: 0, code: 'HANDOFF_ERR_PROXY_SIGNATURE' });
    } finally {
      channel('handoff:connection:proxy-refused').unsubscribe(onMessage);
    }
  });
});

describe('listen.proxyProtocol options', () => {
  const make = (listen: unknown) => () => createPrimary({ worker: proxyApp, workers: 1, listen: listen as never, handleSignals: false });

  it.each([
    [{ port: 0, proxyprotocol: true }, 'listen.proxyprotocol is not an option of a listener'],
    [{ path: '/tmp/x.sock', port: 1 }, 'listen.port is not an option of a listener'],
    [{ port: 0, proxyProtocol: { trust: ['10.0.0.0/8'] } }, 'listen.proxyProtocol.trust is not an option of proxyProtocol'],
    [{ port: 0, proxyProtocol: { trusted: ['10.0.0.0/8', '10.0.0.0/33'] } }, 'listen.proxyProtocol.trusted[1] is "10.0.0.0/33", not a CIDR block'],
    [{ port: 0, proxyProtocol: { trusted: '10.0.0.0/8' } }, 'listen.proxyProtocol.trusted must be an array'],
    [{ port: 0, proxyProtocol: { timeout: 0 } }, 'listen.proxyProtocol.timeout must be an integer >= 1'],
    [{ port: 0, proxyProtocol: { maxHeaderBytes: 100_000 } }, 'listen.proxyProtocol.maxHeaderBytes must be at most 65536'],
    [{ port: 0, proxyProtocol: 'yes' }, 'listen.proxyProtocol must be true, false or'],
    [{ port: 0, proxyProtocol: { maxPending: 0 } }, 'listen.proxyProtocol.maxPending must be an integer >= 1'],
  ])('refuses %j', (listen, message) => {
    expect(make(listen)).toThrow(expect.objectContaining({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining(message) }));
  });

  it('takes true, false and a full object', () => {
    for (const proxyProtocol of [true, false, { trusted: ['::1', '10.0.0.0/8'], timeout: 100, maxHeaderBytes: 107, maxPending: 1 }]) {
      expect(make({ port: 0, proxyProtocol })).not.toThrow();
    }
  });
});
