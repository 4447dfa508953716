import { fork } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary, type Primary } from '@handoff/orchestrator';
import {
  createMessage,
  HandoffError,
  HandoffProtocolError,
  ProtocolErrorCode,
  PROTOCOL_CMD,
  PROTOCOL_VERSION,
  sendMessage,
  subscribe,
  type ChannelEnd,
  type HandoffMessage,
} from '@handoff/protocol';
import { get, isAlive, killAll, pidOf, startTestPrimary, waitFor, type TestPrimary } from '../../../tools/testing/src/index.js';
import { app } from './helpers.js';

const rogue = fileURLToPath(new URL('./fixtures/rogue.mjs', import.meta.url));
const { GARBAGE } = (await import(new URL('./fixtures/garbage.mjs', import.meta.url).href)) as { GARBAGE: readonly Record<string, unknown>[] };

let current: TestPrimary | undefined;
const pids = new Set<number>();
const cleanups: Array<() => void> = [];
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
  for (const c of cleanups.splice(0)) c();
  killAll(pids);
  pids.clear();
});

function protocolErrors(primary: Primary): HandoffProtocolError[] {
  const errors: HandoffProtocolError[] = [];
  primary.on('error', (error) => {
    if (error instanceof HandoffProtocolError) errors.push(error);
  });
  return errors;
}

describe('the primary against a worker that breaks the protocol', () => {
  it('reports each bad message as an error event with what arrived, and keeps serving with every worker', async () => {
    current = await startTestPrimary({ worker: rogue, workers: 2 });
    const { primary, port } = current;
    const errors = protocolErrors(primary);
    const before = primary.workers().map((w) => w.pid);

    const res = await get(port, { path: '/garbage' });
    expect(res.status).toBe(200);
    const handoffTagged = GARBAGE.filter((m) => m.cmd === PROTOCOL_CMD);
    await waitFor(() => errors.length >= handoffTagged.length, 10_000, 10, 'an error event per bad message');
    expect(errors.map((e) => e.code)).toEqual([
      ProtocolErrorCode.MALFORMED,
      ProtocolErrorCode.MALFORMED,
      ProtocolErrorCode.UNKNOWN_TYPE,
      ProtocolErrorCode.HANDLE,
      ProtocolErrorCode.UNEXPECTED,
      ProtocolErrorCode.OVERSIZED,
    ]);
    expect(errors.map((e) => e.received)).toEqual(handoffTagged);

    // Nobody was killed or replaced, and both workers still serve.
    const served = new Set<number>();
    for (let i = 0; i < 8; i++) {
      const r = await get(port);
      expect(r.status).toBe(200);
      served.add(pidOf(r.body));
    }
    expect([...served].sort()).toEqual([...before].sort());
    expect(primary.workers().map((w) => w.pid)).toEqual(before);
    // The user's message raised nothing.
    expect(errors).toHaveLength(handoffTagged.length);
  });
});

describe('version negotiation', () => {
  it('refuses a worker on another protocol version with an error naming both, keeps serving with the others, and does not respawn it in a tight loop', async () => {
    // Workers 1 and 2 speak v2; worker 3 (added by scale) says hello with v3.
    current = await startTestPrimary({ worker: rogue, workers: 2, env: { FOREIGN_WORKERS: '3' }, restart: { initialDelay: 10, maxDelay: 600_000 } });
    const { primary, port } = current;
    const errors = protocolErrors(primary);
    const exits: number[] = [];
    primary.on('worker:exit', (w) => exits.push(w.id));
    const scaled = await primary.scale(3).then(() => undefined, (error: unknown) => error);

    expect(scaled).toBeInstanceOf(HandoffError);
    expect(scaled).toMatchObject({ code: ProtocolErrorCode.VERSION });
    expect((scaled as Error).message).toMatch(/worker 3 .*speaks handoff protocol v2, the peer sent v3/);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe(ProtocolErrorCode.VERSION);
    expect(errors[0]!.received).toMatchObject({ cmd: PROTOCOL_CMD, v: 3, type: 'hello' });
    await waitFor(() => exits.includes(3), 10_000, 10, 'worker 3 to be stopped');

    // The others serve on; the refused slot is not respawned at once (restart.maxDelay applies).
    for (let i = 0; i < 6; i++) expect((await get(port)).status).toBe(200);
    expect(primary.workers().map((w) => w.id)).toEqual([1, 2]);
    expect(errors).toHaveLength(1);
  });

  it('fails start() with HANDOFF_ERR_PROTOCOL_VERSION when the workers speak another version, leaving no child', async () => {
    const primary = createPrimary({ worker: rogue, workers: 2, env: { FOREIGN_WORKERS: '1,2' }, listen: { port: 0, host: '127.0.0.1' }, readyTimeout: 15_000, handleSignals: false });
    primary.on('worker:spawn', (w) => pids.add(w.pid));
    primary.on('error', () => {});
    const failed = await primary.start().then(() => undefined, (error: unknown) => error);
    expect(failed).toBeInstanceOf(HandoffProtocolError);
    expect((failed as HandoffProtocolError).code).toBe(ProtocolErrorCode.VERSION);
    expect((failed as Error).message).toMatch(/v2.*v3/);
    expect(primary.state).toBe('stopped');
    for (const pid of pids) await waitFor(() => !isAlive(pid), 5000, 10, `worker ${pid} to be gone`);
  });
});

/**
 * The test plays the primary against a real `@handoff/worker` (fixtures/app.mjs), so it can send
 * what a correct primary never does.
 */
describe('a real worker against a primary that breaks the protocol', () => {
  it('reports a connection without its handle (and other bad messages) and moves on to serve the next one', async () => {
    const child = fork(app, [], { env: { ...process.env, HANDOFF_WORKER_ID: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    pids.add(child.pid!);
    const end = child as unknown as ChannelEnd;
    const received: HandoffMessage[] = [];
    subscribe(end, { message: (m) => received.push(m), error: (e) => received.push(createMessage('error', { code: `primary saw ${e.code}`, message: e.message })) });
    const arrived = (type: string, n = 1) => waitFor(() => received.filter((m) => m.type === type).length >= n, 15_000, 10, `${n} '${type}'`);

    await arrived('hello');
    await sendMessage(end, createMessage('listen', { listener: 0, listeners: 1, mode: 'primary', address: { port: 1, host: '127.0.0.1' } }));
    await arrived('ready');

    child.send({ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: 1 });
    child.send({ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'ready' });
    child.send({ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION + 1, type: 'ping', seq: 1 });
    await arrived('error', 3);
    expect(received.filter((m) => m.type === 'error').map((m) => (m as { code: string }).code)).toEqual([ProtocolErrorCode.HANDLE, ProtocolErrorCode.UNEXPECTED, ProtocolErrorCode.VERSION]);

    // It moved on: a real connection is served, and the heartbeat is answered.
    const listener = createServer({ pauseOnConnect: true });
    cleanups.push(() => listener.close());
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const sockets: Socket[] = [];
    listener.on('connection', (socket: Socket) => {
      sockets.push(socket);
      // The primary's part: hand the native handle over (a net.Socket would arrive wrapped), then
      // close its own copy: once written, the worker's copy is in flight.
      const handle = (socket as unknown as { _handle: object })._handle;
      void sendMessage(end, createMessage('connection', { listener: 0, id: 2 }), handle).then(() => socket.destroy());
    });
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: (listener.address() as { port: number }).port, path: '/', agent: false, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('no answer from the worker')));
      req.end();
    });
    expect(pidOf(body)).toBe(child.pid);
    await sendMessage(end, createMessage('ping', { seq: 5 }));
    await arrived('pong');

    // And `shutdown` ends it cleanly.
    await sendMessage(end, createMessage('shutdown', {}));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
