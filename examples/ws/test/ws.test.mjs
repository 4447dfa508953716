import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

/** Opens a WebSocket and resolves with it and the worker's hello, once both arrived. */
function open(port) {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
    socket.once('error', reject);
    socket.once('message', (data) => resolve({ socket, hello: JSON.parse(String(data)) }));
  });
}

/** Sends `data` and resolves with the next message. */
function roundTrip(socket, data) {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.once('message', (reply, isBinary) => resolve({ reply, isBinary }));
    socket.send(data);
  });
}

function close(socket) {
  return new Promise((resolve) => {
    if (socket.readyState === WebSocket.CLOSED) return resolve();
    socket.once('close', (code) => resolve(code));
    socket.close(1000);
  });
}

describe('examples/ws', () => {
  it('upgrades through handoff and echoes text and binary messages, from both workers', async () => {
    const { primary, port } = await startPrimary();

    const { socket, hello } = await open(port);
    expect(hello.hello).toBe('ws');
    expect(workerPids(primary)).toContain(hello.pid);

    const text = await roundTrip(socket, 'hello through handoff ü');
    expect(text.isBinary).toBe(false);
    expect(String(text.reply)).toBe('hello through handoff ü');

    const bytes = Buffer.from([0, 1, 2, 254, 255]);
    const binary = await roundTrip(socket, bytes);
    expect(binary.isBinary).toBe(true);
    expect(Buffer.compare(binary.reply, bytes)).toBe(0);

    // Many messages on one socket stay in order.
    const replies = [];
    const all = new Promise((resolve) =>
      socket.on('message', (data) => {
        replies.push(String(data));
        if (replies.length === 50) resolve();
      }),
    );
    for (let i = 0; i < 50; i++) socket.send(`m${i}`);
    await all;
    expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
    socket.removeAllListeners('message');
    expect(await close(socket)).toBe(1000);

    // Each new WebSocket is a new connection, handed to the next worker.
    const served = await pidsServing(async () => {
      const { socket: s, hello: h } = await open(port);
      await close(s);
      return h.pid;
    });
    expect(sorted(served)).toEqual(workerPids(primary));

    // The same server still answers plain HTTP.
    const plain = await request(port, '/');
    expect(plain.json.example).toBe('ws');
  });

  it('keeps WebSockets on both workers open side by side', async () => {
    const { primary, port } = await startPrimary();
    const opened = [];
    for (let i = 0; i < 4; i++) opened.push(await open(port));
    expect(sorted(new Set(opened.map((o) => o.hello.pid)))).toEqual(workerPids(primary));
    const echoes = await Promise.all(opened.map(({ socket }, i) => roundTrip(socket, `socket ${i}`)));
    expect(echoes.map((e) => String(e.reply))).toEqual(['socket 0', 'socket 1', 'socket 2', 'socket 3']);
    await Promise.all(opened.map(({ socket }) => close(socket)));
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves', async () => {
    const { child, port } = await startExamplePrimary();
    const served = await pidsServing(async () => {
      const { socket, hello } = await open(port);
      await close(socket);
      return hello.pid;
    });
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
