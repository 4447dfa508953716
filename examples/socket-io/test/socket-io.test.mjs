import { ipHash, roundRobin } from '@handoff/policies';
import { io } from 'socket.io-client';
import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { cleanups, startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

/**
 * A socket.io client that never reconnects on its own: a session the server lost shows as a
 * `connect_error` or a `disconnect`, instead of being papered over by a new session.
 */
function connect(port, transports) {
  const socket = io(`http://127.0.0.1:${port}`, { transports, reconnection: false, forceNew: true, timeout: 10_000 });
  cleanups.push(() => socket.close());
  const disconnects = [];
  socket.on('disconnect', (reason) => disconnects.push(reason));
  const connected = new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, disconnects, connected };
}

/** One emit with ack; rejects if the ack does not come (the session was lost on the way). */
function ping(socket, n) {
  return socket.timeout(10_000).emitWithAck('ping', n);
}

describe('examples/socket-io', () => {
  it('long-polling under ipHash(): one session completes 20 round trips, all on one worker', async () => {
    const { primary, port } = await startPrimary({ policy: ipHash() });
    const { socket, disconnects, connected } = connect(port, ['polling']);
    await connected;
    const session = socket.io.engine.id;
    expect(typeof session).toBe('string');

    const acks = [];
    for (let n = 0; n < 20; n++) acks.push(await ping(socket, n));

    expect(acks.map((a) => a.n)).toEqual(Array.from({ length: 20 }, (_, n) => n));
    expect(acks.every((a) => a.transport === 'polling')).toBe(true);
    // One worker held the session from the handshake to the last ack: the same engine.io session,
    // never lost (engine.io closes every session when its http server emits 'close').
    expect(new Set(acks.map((a) => a.pid)).size).toBe(1);
    expect(workerPids(primary)).toContain(acks[0].pid);
    expect(socket.io.engine.id).toBe(session);
    expect(socket.io.engine.transport.name).toBe('polling');
    expect(socket.connected).toBe(true);
    expect(disconnects).toEqual([]);
  });

  it('long-polling under ipHash(): several sessions at once, interleaved, each keeps its session', async () => {
    const { port } = await startPrimary({ policy: ipHash() });
    const clients = [connect(port, ['polling']), connect(port, ['polling']), connect(port, ['polling'])];
    await Promise.all(clients.map((c) => c.connected));
    const sessions = clients.map((c) => c.socket.io.engine.id);
    expect(new Set(sessions).size).toBe(3);
    for (let n = 0; n < 10; n++) {
      const acks = await Promise.all(clients.map((c) => ping(c.socket, n)));
      expect(acks.map((a) => a.n)).toEqual([n, n, n]);
      // Every client here comes from 127.0.0.1: ipHash() keeps them all on one worker.
      expect(new Set(acks.map((a) => a.pid)).size).toBe(1);
    }
    expect(clients.map((c) => c.socket.io.engine.id)).toEqual(sessions);
    expect(clients.flatMap((c) => c.disconnects)).toEqual([]);
  });

  it('polling upgraded to WebSocket (the default transports) under ipHash(): the session moves to the WebSocket on the same worker', async () => {
    const { port } = await startPrimary({ policy: ipHash() });
    const { socket, disconnects, connected } = connect(port, ['polling', 'websocket']);
    await connected;
    const session = socket.io.engine.id;
    const first = await ping(socket, 0);
    // The upgrade's WebSocket is a new connection: ipHash() sends it to the worker holding the session.
    await new Promise((resolve, reject) => {
      if (socket.io.engine.transport.name === 'websocket') return resolve();
      socket.io.engine.once('upgrade', resolve);
      socket.io.engine.once('upgradeError', reject);
    });
    const acks = [];
    for (let n = 1; n <= 20; n++) acks.push(await ping(socket, n));
    expect(acks.every((a) => a.transport === 'websocket' && a.pid === first.pid)).toBe(true);
    expect(socket.io.engine.id).toBe(session);
    expect(disconnects).toEqual([]);
  });

  it('WebSocket transport under roundRobin(): round trips on each socket, sockets on both workers', async () => {
    const { primary, port } = await startPrimary({ policy: roundRobin() });
    const clients = [];
    for (let i = 0; i < 4; i++) {
      const client = connect(port, ['websocket']);
      await client.connected;
      clients.push(client);
    }
    const pidsPerClient = [];
    for (const { socket } of clients) {
      const acks = [];
      for (let n = 0; n < 20; n++) acks.push(await ping(socket, n));
      expect(acks.map((a) => a.n)).toEqual(Array.from({ length: 20 }, (_, n) => n));
      expect(acks.every((a) => a.transport === 'websocket')).toBe(true);
      // One WebSocket is one connection: one worker holds it throughout.
      expect(new Set(acks.map((a) => a.pid)).size).toBe(1);
      pidsPerClient.push(acks[0].pid);
    }
    // Round robin spread the four WebSockets over both workers.
    expect(sorted(new Set(pidsPerClient))).toEqual(workerPids(primary));
    expect(clients.flatMap((c) => c.disconnects)).toEqual([]);

    // The same server still answers plain HTTP.
    const plain = await request(port, '/');
    expect(plain.json.example).toBe('socket-io');
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves', async () => {
    const { child, port } = await startExamplePrimary({ POLICY: 'round-robin' });
    const served = await pidsServing(async () => {
      const { socket, connected } = connect(port, ['websocket']);
      await connected;
      const { pid } = await ping(socket, 0);
      socket.close();
      return pid;
    });
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
