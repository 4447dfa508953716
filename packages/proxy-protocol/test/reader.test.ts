import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createTrustCheck, encodeProxyHeader, readProxyHeader, type ProxyReadOptions, type ProxyReadResult } from '@handoff/proxy-protocol';

const header = encodeProxyHeader({ version: 2, source: { family: 'IPv4', address: '203.0.113.9', port: 4000 }, destination: { family: 'IPv4', address: '127.0.0.1', port: 80 } });
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A loopback server whose first connection is read with readProxyHeader; resolves with the result and both sockets. */
async function pair(options: ProxyReadOptions, serverOptions: net.ServerOpts = {}): Promise<{ client: net.Socket; result: Promise<{ result: ProxyReadResult; socket: net.Socket; at: number }> }> {
  const server = net.createServer(serverOptions);
  cleanups.push(() => server.close());
  const result = new Promise<{ result: ProxyReadResult; socket: net.Socket; at: number }>((resolve) => {
    server.once('connection', (socket) => {
      cleanups.push(() => socket.destroy());
      readProxyHeader(socket, options, (r) => resolve({ result: r, socket, at: Date.now() }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  cleanups.push(() => client.destroy());
  await once(client, 'connect');
  return { client, result };
}

describe('readProxyHeader', () => {
  it('reads a header that arrives in pieces, stops reading at once, and leaves what follows it to the next reader', async () => {
    // A high-water mark of 0, as the primary's sockets have: once paused, Node reads nothing ahead.
    const { client, result } = await pair({ timeout: 5000 }, { highWaterMark: 0 });
    client.write(header.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 20));
    client.write(Buffer.concat([header.subarray(5), Buffer.from('first')]));
    const { result: r, socket } = await result;
    if (r.status !== 'done') throw r.error;
    expect(r.header.source).toEqual({ family: 'IPv4', address: '203.0.113.9', port: 4000 });
    expect(r.raw).toEqual(header);
    expect(r.rest.toString()).toBe('first');
    expect((socket as unknown as { _handle: { reading: boolean } })._handle.reading).toBe(false);
    client.write('second');
    await new Promise((r) => setTimeout(r, 50));
    // Nothing was read past the header's read: the next reader gets it all, in order.
    socket.unshift(r.rest);
    const data = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.length >= 11) resolve(text);
      });
      // The reader paused it: the next reader resumes it.
      socket.resume();
    });
    expect(data).toBe('firstsecond');
  });

  it('refuses a peer outside the trusted blocks before reading a byte', async () => {
    const { result } = await pair({ timeout: 5000, trusted: createTrustCheck(['10.0.0.0/8']) });
    const { result: r } = await result;
    expect(r.status === 'error' && r.error.code).toBe('HANDOFF_ERR_PROXY_UNTRUSTED');
  });

  it('fails a header that does not complete within the timeout', async () => {
    const { client, result } = await pair({ timeout: 150 });
    const start = Date.now();
    client.write(header.subarray(0, 10));
    const { result: r, at } = await result;
    expect(r.status === 'error' && r.error.code).toBe('HANDOFF_ERR_PROXY_TIMEOUT');
    expect(at - start).toBeGreaterThanOrEqual(100);
  });

  it('fails a connection that ends before its header is complete, and one that sends garbage', async () => {
    const ended = await pair({ timeout: 5000 });
    ended.client.end(header.subarray(0, 20));
    const r1 = (await ended.result).result;
    expect(r1.status === 'error' && r1.error.code).toBe('HANDOFF_ERR_PROXY_CLOSED');
    const garbage = await pair({ timeout: 5000 });
    garbage.client.write('GET / HTTP/1.1\r\n\r\n');
    const r2 = (await garbage.result).result;
    expect(r2.status === 'error' && r2.error.code).toBe('HANDOFF_ERR_PROXY_SIGNATURE');
  });
});
