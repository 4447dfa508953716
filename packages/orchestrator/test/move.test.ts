import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { balancedShared, leastConnections, roundRobin, sharedHandle } from '@handoff/policies';
import { killAll, pidOf, startLoadProcess, startTestPrimary, waitFor, type LoadProcess, type TestPrimary } from '../../../tools/testing/src/index.js';
import { fileURLToPath } from 'node:url';
import { app } from './helpers.js';

const echoApp = fileURLToPath(new URL('./fixtures/echo-app.mjs', import.meta.url));

let current: TestPrimary | undefined;
let load: LoadProcess | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  if (load !== undefined) killAll([load.pid]);
  load = undefined;
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

/** A raw client socket, for tests that choose when each byte goes. */
async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setEncoding('latin1');
  sockets.push(socket);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return socket;
}

/** Sends one keep-alive GET on `socket` and resolves with its whole response ('' if the socket closed first). */
function ask(socket: net.Socket, path = '/'): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (chunk: string): void => {
      got += chunk;
      const end = got.indexOf('\r\n\r\n');
      const length = Number(/content-length:\s*(\d+)/i.exec(got)?.[1] ?? -1);
      const chunkedDone = /transfer-encoding:\s*chunked/i.test(got) && got.endsWith('0\r\n\r\n');
      if (end >= 0 && ((length >= 0 && got.length >= end + 4 + length) || chunkedDone)) done(got);
    };
    const onClose = (): void => done(got);
    const done = (answer: string): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(answer);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
}

const modes = [
  ['primary', roundRobin],
  ['shared', sharedHandle],
  ['shared, balanced', balancedShared],
] as const;

describe('a drain moves connections between requests to a new worker', () => {
  for (const [name, policy] of modes) {
    it(`mode ${name}: a client that connected and sends only after the reload is answered by a new worker`, async () => {
      current = await startTestPrimary({ worker: app, workers: 2, policy: policy() });
      const { primary, port } = current;
      const before = new Set(primary.workers().map((w) => w.pid));
      const slow = await connect(port);
      // The connection is in a worker (the kernel modes: accepted there) before the reload begins.
      await waitFor(() => primary.workers().some((w) => w.connections > 0), 5000, 10, 'the connection to reach a worker');
      await primary.reload();
      const answer = await ask(slow);
      expect(answer).toMatch(/^HTTP\/1\.1 200/);
      expect(before.has(pidOf(answer))).toBe(false);
      // Once: to a worker of the new generation, not to an old one about to drain.
      expect(primary.stats().moved).toBe(1);
    });

    it(`mode ${name}: a keep-alive client idle between two requests gets its second answer on the same socket, from a new worker`, async () => {
      current = await startTestPrimary({ worker: app, workers: 2, policy: policy() });
      const { primary, port } = current;
      const client = await connect(port);
      const first = await ask(client);
      expect(first).toMatch(/^HTTP\/1\.1 200/);
      await primary.reload();
      const second = await ask(client);
      expect(second).toMatch(/^HTTP\/1\.1 200/);
      expect(pidOf(second)).not.toBe(pidOf(first));
      expect(primary.workers().map((w) => w.pid)).toContain(pidOf(second));
      expect(client.destroyed).toBe(false);
    });
  }

  it('a keep-alive request in flight at the drain finishes on the old worker, then its connection moves', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, policy: roundRobin() });
    const { primary, port } = current;
    const client = await connect(port);
    const slow = ask(client, '/slow?ms=400');
    await waitFor(() => primary.workers().some((w) => w.connections > 0), 5000, 10, 'the request to reach a worker');
    const reloaded = primary.reload();
    const first = await slow;
    expect(first).toMatch(/^HTTP\/1\.1 200/);
    expect(first).not.toMatch(/connection: close/i);
    await reloaded;
    const second = await ask(client);
    expect(second).toMatch(/^HTTP\/1\.1 200/);
    expect(pidOf(second)).not.toBe(pidOf(first));
  });

  for (const movable of [true, false]) {
    it(`a raw net server ${movable ? 'that opted in (serve(server, { movable: true })): a connection that sent nothing moves' : 'that did not opt in: its connection drains in place (closed at the deadline)'}`, async () => {
      current = await startTestPrimary({ worker: echoApp, workers: 1, policy: roundRobin(), drainTimeout: 500, env: { MOVABLE: movable ? '1' : '0' } });
      const { primary, port } = current;
      const before = primary.workers()[0]!.pid;
      const client = await connect(port);
      await waitFor(() => primary.workers().some((w) => w.connections > 0), 5000, 10, 'the connection to reach a worker');
      const closed = new Promise((resolve) => client.once('close', resolve));
      await primary.reload();
      if (movable) {
        const answer = new Promise<string>((resolve) => client.once('data', resolve));
        client.write('hello');
        const got = await answer;
        expect(got).toBe(`pid: ${primary.workers()[0]!.pid} hello`);
        expect(pidOf(got)).not.toBe(before);
      } else {
        await closed;
        expect(primary.stats().moved).toBe(0);
      }
    });
  }

  it('moveOnDrain: false closes them as before (the keep-alive client must reconnect)', async () => {
    current = await startTestPrimary({ worker: app, workers: 2, policy: roundRobin(), moveOnDrain: false });
    const { primary, port } = current;
    const client = await connect(port);
    expect(await ask(client)).toMatch(/^HTTP\/1\.1 200/);
    const closed = new Promise((resolve) => client.once('close', resolve));
    await primary.reload();
    await closed;
    expect(primary.stats().moved).toBe(0);
  });

  for (const [name, policy] of [...modes, ['primary, least-connections', leastConnections]] as const) {
    it(`mode ${name}: 20 reloads under keep-alive and churn load: no error, and no keep-alive client reconnected`, async () => {
      current = await startTestPrimary({ worker: app, workers: 2, policy: policy() });
      const { primary, port } = current;
      const moved: unknown[] = [];
      const onMoved = (m: unknown): number => moved.push(m);
      subscribe('handoff:connection:moved', onMoved);
      try {
        load = startLoadProcess({ port, keepAlive: 4, churn: 4 });
        await new Promise((r) => setTimeout(r, 200));
        const replaced: number[] = [];
        primary.on('reload:end', (r) => replaced.push(r.replaced));
        for (let i = 0; i < 20; i++) await primary.reload();
        const seen = await load.stop();
        load = undefined;
        expect({ failed: seen.failed, non2xx: seen.non2xx, errors: seen.errors }).toEqual({ failed: 0, non2xx: 0, errors: {} });
        expect(replaced).toEqual(new Array(20).fill(2));
        // Each keep-alive loop opened its one connection and kept it through the 20 reloads.
        expect(seen.keepAliveConnections).toBe(4);
        expect(moved.length).toBeGreaterThanOrEqual(20 * 2);
        expect(primary.stats().moved).toBe(moved.length);
      } finally {
        unsubscribe('handoff:connection:moved', onMoved);
      }
    });
  }
});
