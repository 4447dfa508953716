// ConnectionTracker on real servers in this process (no primary): what a drain reads of a server's
// connections, counted without a listener of its own.
import { once } from 'node:events';
import { createServer, request, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, connect as h2connect } from 'node:http2';
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionTracker, isHttp2Server } from '../src/tracker.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Listens on 127.0.0.1 port 0, tracking every connection; closed after the test. */
async function listen<S extends Server>(server: S, tracker: ConnectionTracker): Promise<number> {
  server.on('connection', (socket: Socket) => tracker.track(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

function get(port: number, agent: Agent, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

describe('ConnectionTracker', () => {
  it('counts connections taken and closed, and HTTP/1 requests, with the socket\'s close listeners untouched', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    const tracker = new ConnectionTracker(server);
    let closes = 0;
    tracker.onClosed(() => closes++);
    let listenersSeen = -1;
    server.on('connection', (socket: Socket) => setImmediate(() => (listenersSeen = socket.listenerCount('close'))));
    const port = await listen(server, tracker);
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    cleanups.push(() => agent.destroy());
    for (let i = 0; i < 5; i++) expect(await get(port, agent)).toBe('ok');
    expect(tracker.stats()).toEqual({ open: 1, accepted: 1, closed: 0, requests: 5 });
    // What a plain http.Server adds to a socket's 'close': the tracker adds nothing to it.
    const bare = createServer((_req, res) => res.end());
    let bareListeners = -1;
    bare.on('connection', (socket: Socket) => setImmediate(() => (bareListeners = socket.listenerCount('close'))));
    bare.listen(0, '127.0.0.1');
    await once(bare, 'listening');
    cleanups.push(() => new Promise((r) => bare.close(r)));
    const bareAgent = new Agent({ keepAlive: false });
    await get((bare.address() as AddressInfo).port, bareAgent);
    expect(listenersSeen).toBe(bareListeners);
    agent.destroy();
    await new Promise<void>((resolve) => {
      const poll = (): void => (tracker.stats().open === 0 ? resolve() : void setTimeout(poll, 5));
      poll();
    });
    expect(tracker.stats()).toEqual({ open: 0, accepted: 1, closed: 1, requests: 5 });
    expect(closes).toBe(1);
  });

  it('knows which HTTP/1 socket has a response in progress (a drain closes only the idle ones)', async () => {
    let inResponse!: (res: ServerResponse) => void;
    const responding = new Promise<ServerResponse>((resolve) => (inResponse = resolve));
    const server = createServer((_req: IncomingMessage, res: ServerResponse) => inResponse(res));
    const tracker = new ConnectionTracker(server);
    const port = await listen(server, tracker);
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    cleanups.push(() => agent.destroy());
    const slow = get(port, agent, '/slow');
    const res = await responding;
    const socket = res.socket!;
    expect(tracker.isIdle(socket)).toBe(false);
    expect(tracker.responseOn(socket)).toBe(res);
    res.end('slow');
    expect(await slow).toBe('slow');
    expect(tracker.isIdle(socket)).toBe(true);
  });

  it('flags a socket upgraded to a WebSocket, and only that one', async () => {
    const server = createServer();
    const tracker = new ConnectionTracker(server);
    const upgraded: Socket[] = [];
    server.on('upgrade', (_req, socket: Socket) => {
      upgraded.push(socket);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    const port = await listen(server, tracker);
    const client = connect(port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    client.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n');
    await once(client, 'data');
    expect(upgraded).toHaveLength(1);
    expect(tracker.isWebSocket(upgraded[0]!)).toBe(true);
    const plain = connect(port, '127.0.0.1');
    cleanups.push(() => plain.destroy());
    await once(plain, 'connect');
    await new Promise((r) => setTimeout(r, 20));
    const other = [...tracker.sockets].find((s) => s !== upgraded[0]);
    expect(other === undefined ? false : tracker.isWebSocket(other)).toBe(false);
  });

  it('counts each HTTP/2 stream once (the compatibility layer\'s request is not counted again)', async () => {
    const server = createH2Server((_req, res) => res.end('h2'));
    expect(isHttp2Server(server as never)).toBe(true);
    expect(isHttp2Server(createNetServer())).toBe(false);
    const tracker = new ConnectionTracker(server as never);
    const port = await listen(server as never, tracker);
    const session = h2connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => session.close());
    for (let i = 0; i < 3; i++) {
      const stream = session.request({ ':path': '/' });
      stream.resume();
      await once(stream, 'end');
    }
    expect(tracker.stats().requests).toBe(3);
  });
});
