import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createMessage,
  HandoffProtocolError,
  ProtocolErrorCode,
  PROTOCOL_CMD,
  PROTOCOL_VERSION,
  sendMessage,
  subscribe,
  type ChannelEnd,
  type HandoffMessage,
} from '@handoff/protocol';
import { killAll, waitFor } from '../../../tools/testing/src/index.js';

const peerScript = fileURLToPath(new URL('./fixtures/peer.mjs', import.meta.url));

const children: ChildProcess[] = [];
const servers: Server[] = [];
afterEach(() => {
  killAll(children.splice(0).map((c) => c.pid ?? -1));
  for (const s of servers.splice(0)) s.close();
});

interface Peer {
  readonly child: ChildProcess;
  readonly end: ChannelEnd;
  /** Everything that arrived, in order: handoff messages as `handoff:<type>`, the user's as `user`. */
  readonly log: Array<{ side: 'handoff' | 'user'; message: unknown }>;
  readonly errors: HandoffProtocolError[];
}

/** Forks the peer fixture and waits for its `hello`. */
async function startPeer(): Promise<Peer> {
  const child = fork(peerScript, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.push(child);
  const end = child as unknown as ChannelEnd;
  const log: Peer['log'] = [];
  const errors: HandoffProtocolError[] = [];
  subscribe(end, {
    message: (message) => log.push({ side: 'handoff', message }),
    error: (error) => errors.push(error),
  });
  child.on('message', (message) => log.push({ side: 'user', message }));
  await waitFor(() => log.some((e) => e.side === 'handoff' && (e.message as HandoffMessage).type === 'hello'), 15_000, 10, 'the peer to say hello');
  return { child, end, log, errors };
}

interface Report {
  handoffSeen: HandoffMessage[];
  userSeen: unknown[];
  errors: Array<{ code: string; received: unknown }>;
}

async function reportOf(peer: Peer): Promise<Report> {
  const before = peer.log.length;
  peer.child.send({ report: true });
  await waitFor(() => peer.log.slice(before).some((e) => e.side === 'user' && (e.message as { report?: unknown }).report !== undefined), 10_000, 10, 'the report');
  return (peer.log.slice(before).find((e) => (e.message as { report?: unknown }).report !== undefined)!.message as { report: Report }).report;
}

/** A connected server-side socket on loopback (and its client, to close). */
async function socketPair(): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  servers.push(listener);
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as { port: number }).port;
  const accepted = once(listener, 'connection') as Promise<[Socket]>;
  const client = connect(port, '127.0.0.1');
  const [server] = await accepted;
  return { server, client };
}

describe('the channel between two real processes', () => {
  it("keeps the user's messages and handoff's apart, each in order, both ways", async () => {
    const peer = await startPeer();
    const N = 50;
    for (let i = 0; i < N; i++) {
      // The user's message looks like ours on purpose, except for the tag.
      peer.child.send({ n: i, type: 'ping', seq: i });
      void sendMessage(peer.end, createMessage('ping', { seq: i }));
    }
    await waitFor(() => peer.log.filter((e) => e.side === 'handoff' && (e.message as HandoffMessage).type === 'pong').length === N, 15_000, 10, 'every pong');

    // Primary side: for each i, the echo and the worker's `load` (sent back to back), then the pong.
    const arrived = peer.log.slice(1).map((e) => (e.side === 'user' ? `user:${(e.message as { echo: { n: number } }).echo.n}` : `${(e.message as HandoffMessage).type}:${(e.message as { seq?: number; open?: number }).seq ?? (e.message as { open: number }).open}`));
    expect(arrived).toEqual(Array.from({ length: N }, (_, i) => [`user:${i}`, `load:${i}`, `pong:${i}`]).flat());
    expect(peer.log.filter((e) => e.side === 'user').every((e) => (e.message as { cmd?: unknown }).cmd === undefined)).toBe(true);
    expect(peer.errors).toEqual([]);

    // Worker side: the user's look-alikes reached process.on('message') only, handoff's pings subscribe() only.
    const report = await reportOf(peer);
    expect(report.userSeen).toEqual(Array.from({ length: N }, (_, i) => ({ n: i, type: 'ping', seq: i })));
    expect(report.handoffSeen.map((m) => `${m.type}:${(m as { seq: number }).seq}`)).toEqual(Array.from({ length: N }, (_, i) => `ping:${i}`));
    expect(report.errors).toEqual([]);
  });

  it('reports a malformed message, or a connection without its handle, with what arrived, and keeps the channel working', async () => {
    const peer = await startPeer();
    const unknown = { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'teleport' };
    const handleless = { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: 1 };
    const wrongWay = { cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION + 1, type: 'ping', seq: 1 };
    peer.child.send(unknown);
    peer.child.send(handleless);
    peer.child.send(wrongWay);
    await sendMessage(peer.end, createMessage('ping', { seq: 7 }));
    await waitFor(() => peer.log.some((e) => (e.message as { type?: string; seq?: number }).type === 'pong'), 10_000, 10, 'the pong');
    const report = await reportOf(peer);
    expect(report.errors).toEqual([
      { code: ProtocolErrorCode.UNKNOWN_TYPE, received: unknown },
      { code: ProtocolErrorCode.HANDLE, received: handleless },
      { code: ProtocolErrorCode.VERSION, received: wrongWay },
    ]);
    expect(report.handoffSeen.map((m) => m.type)).toEqual(['ping']);
  });

  it('carries a connection handle with its message; the peer receives both together', async () => {
    const peer = await startPeer();
    const { server, client } = await socketPair();
    // The native handle, as the primary sends it (a net.Socket would arrive wrapped in another).
    await sendMessage(peer.end, createMessage('connection', { listener: 0, id: 1, payload: Buffer.from('GET / HTTP/1.1').toString('base64') }), (server as unknown as { _handle: object })._handle);
    server.destroy();
    const report = await reportOf(peer);
    expect(report.handoffSeen).toEqual([expect.objectContaining({ type: 'connection', id: 1, payload: Buffer.from('GET / HTTP/1.1').toString('base64') })]);
    expect(report.errors).toEqual([]);
    client.destroy();
  });

  it('rejects a send on a channel that closes mid-send with HANDOFF_ERR_CHANNEL_CLOSED, and never hangs or throws', async () => {
    const peer = await startPeer();
    const padding = 'x'.repeat(64 * 1024);
    const sends: Array<Promise<void>> = [];
    // A burst larger than the socket buffer, and the peer killed while it is being written.
    for (let i = 0; i < 100; i++) {
      sends.push(sendMessage(peer.end, { ...createMessage('ping', { seq: i }), padding } as HandoffMessage));
      if (i === 0) peer.child.kill('SIGKILL');
    }
    // Sending on until the closed channel is noticed: the first rejection must come, typed.
    let rejected: unknown;
    await waitFor(async () => {
      rejected = await sendMessage(peer.end, createMessage('ping', { seq: 0 })).then(() => undefined, (error: unknown) => error);
      return rejected !== undefined;
    }, 10_000, 10, 'a send to reject');
    expect(rejected).toBeInstanceOf(HandoffProtocolError);
    expect((rejected as HandoffProtocolError).code).toBe(ProtocolErrorCode.CHANNEL_CLOSED);
    // Every send of the burst settled: written before the close, or rejected with the same code.
    const settled = await Promise.allSettled(sends);
    for (const s of settled) {
      if (s.status === 'rejected') expect((s.reason as HandoffProtocolError).code).toBe(ProtocolErrorCode.CHANNEL_CLOSED);
    }
    // After 'disconnect', a send rejects at once.
    if (peer.child.connected) await once(peer.child, 'disconnect');
    await expect(sendMessage(peer.end, createMessage('shutdown', {}))).rejects.toMatchObject({ code: ProtocolErrorCode.CHANNEL_CLOSED });
  });

  it('rejects a send of a closed handle with HANDOFF_ERR_HANDLE_CLOSED, and the peer receives nothing', async () => {
    const peer = await startPeer();
    const { server, client } = await socketPair();
    server.destroy();
    await expect(sendMessage(peer.end, createMessage('connection', { listener: 0, id: 2 }), server)).rejects.toMatchObject({ code: ProtocolErrorCode.HANDLE_CLOSED });
    const closedServer = createServer();
    closedServer.listen(0, '127.0.0.1');
    await once(closedServer, 'listening');
    closedServer.close();
    const listen = createMessage('listen', { listener: 0, listeners: 1, mode: 'shared', address: { port: 1 } });
    await expect(sendMessage(peer.end, listen, closedServer)).rejects.toMatchObject({ code: ProtocolErrorCode.HANDLE_CLOSED });
    const report = await reportOf(peer);
    expect(report.handoffSeen).toEqual([]);
    client.destroy();
  });
});
