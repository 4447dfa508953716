import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createPrimaryTransport, nativeStatus } from '../src/index.js';
import { digest, fdCount, get, isStopped, listening, load, onCleanup, startWorker, TestDispatcher } from './helpers.js';

const POLL = { timeout: 20_000, interval: 20 };

describe.skipIf(!nativeStatus().available)('native transport', () => {
  it('coalesces everything one wake-up accepts into one numbered batch per worker', async () => {
    const transport = createPrimaryTransport({ transport: 'native', cap: 64, maxBatch: 64 });
    const dispatcher = new TestDispatcher();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1', backlog: 511 });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    // 64 handshakes completed in the kernel's backlog while nobody accepts...
    acceptor.pause();
    const clients: Socket[] = [];
    for (let i = 0; i < 64; i++) clients.push(connect({ port, host: '127.0.0.1' }));
    onCleanup(() => clients.forEach((c) => c.destroy()));
    await Promise.all(clients.map((c) => once(c, 'connect')));
    // ...are taken by one wake-up and leave in one sendmsg.
    acceptor.resume();
    await expect.poll(() => w.link.stats().acknowledged, POLL).toBe(64);
    expect(acceptor.stats()).toMatchObject({ accepted: 64, mostPerWakeup: 64 });
    expect(w.link.stats()).toMatchObject({ sent: 64, batches: 1, largestBatch: 64 });
    const worker = await w.stats();
    expect(worker.stats).toMatchObject({ received: 64, batches: 1, acks: 1 });
    // Every one of them is served.
    const answers = await Promise.all(
      clients.map(
        (c) =>
          new Promise<string>((resolve) => {
            let text = '';
            c.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
            c.on('end', () => resolve(text));
            c.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          }),
      ),
    );
    expect(answers.every((a) => a.startsWith('HTTP/1.1 200') && a.endsWith(String(w.pid)))).toBe(true);
  });

  it('starts a new batch where a payload would not fit in the one being filled', async () => {
    const transport = createPrimaryTransport({ transport: 'native' });
    const dispatcher = new TestDispatcher();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const big = Buffer.alloc(40_000, 9);
    const acceptor = transport.listen(server, {
      listener: 0,
      onConnection: (c) => {
        c.payload = big;
        dispatcher.place(c);
      },
    });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    acceptor.pause();
    const clients: Socket[] = [];
    for (let i = 0; i < 4; i++) clients.push(connect({ port, host: '127.0.0.1' }));
    onCleanup(() => clients.forEach((c) => c.destroy()));
    await Promise.all(clients.map((c) => once(c, 'connect')));
    acceptor.resume();
    await expect.poll(() => w.link.stats().acknowledged, POLL).toBe(4);
    // 2 x 40,000 bytes do not fit in one 64 KiB batch: one connection per batch.
    expect(w.link.stats()).toMatchObject({ sent: 4, batches: 4, largestBatch: 1 });
    const answers = await Promise.all(
      clients.map(
        (c) =>
          new Promise<string>((resolve) => {
            let text = '';
            c.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
            c.on('end', () => resolve(text));
            c.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          }),
      ),
    );
    expect(answers.every((a) => a.toLowerCase().includes(`x-payload: ${digest(big)}`))).toBe(true);
  });

  it("acknowledges in the addon, whatever the worker's code then does", async () => {
    const transport = createPrimaryTransport({ transport: 'native' });
    const dispatcher = new TestDispatcher();
    // This worker's JS blocks on its first connection, for good.
    const w = startWorker(transport, dispatcher, { FIXTURE_MODE: 'block' });
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const client = connect({ port: (acceptor.address as { port: number }).port, host: '127.0.0.1' });
    onCleanup(() => client.destroy());
    await expect.poll(() => w.link.stats().acknowledged, POLL).toBe(1);
    expect(w.link.unacknowledged).toBe(0);
    // Acknowledged means the worker's: its death does not bring it back.
    w.child.kill('SIGKILL');
    await w.exited;
    await expect.poll(() => w.link.closed, POLL).toBe(true);
    expect(dispatcher.returned).toEqual([]);
  });

  it('flushes within flushDelayUs when the batch does not fill', async () => {
    const transport = createPrimaryTransport({ transport: 'native', flushDelayUs: 500 });
    const dispatcher = new TestDispatcher();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    for (let i = 0; i < 20; i++) expect((await get({ port, host: '127.0.0.1' })).body).toBe(String(w.pid));
    expect(w.link.stats().sent).toBe(20);
  });

  it("gives back a dead worker's connections even when a process it spawned holds its end open", async () => {
    const transport = createPrimaryTransport({ transport: 'native', cap: 4 });
    const dispatcher = new TestDispatcher();
    const leaky = startWorker(transport, dispatcher, { FIXTURE_MODE: 'leak-link' });
    const other = startWorker(transport, dispatcher);
    const { heir } = await leaky.ready;
    onCleanup(() => process.kill(heir!, 'SIGKILL'));
    await other.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    process.kill(leaky.pid, 'SIGSTOP');
    await expect.poll(() => isStopped(leaky.pid), POLL).toBe(true);
    dispatcher.only = leaky.link;
    const responses = Array.from({ length: 4 }, () => get({ port, host: '127.0.0.1' }));
    await expect.poll(() => leaky.link.unacknowledged, POLL).toBe(4);
    process.kill(leaky.pid, 'SIGKILL');
    // No EOF (the sleep holds the socket): the exit ends the link.
    expect((await Promise.all(responses)).map((r) => r.body)).toEqual(Array(4).fill(String(other.pid)));
    expect(dispatcher.returned).toHaveLength(4);
  });

  it('serves over IPC a worker that cannot read its native link, with connections the addon accepted', async () => {
    const transport = createPrimaryTransport({ transport: 'native' });
    const dispatcher = new TestDispatcher();
    const w = startWorker(transport, dispatcher, { HANDOFF_FDPASS_DISABLE: '1' });
    expect(await w.ready).toMatchObject({ transport: 'ipc', fallbackReason: 'HANDOFF_FDPASS_DISABLE=1' });
    // The worker closed its end: the link reads EOF, asks the worker over IPC, and goes on there.
    await expect.poll(() => w.link.transport, POLL).toBe('ipc');
    expect(w.link.closed).toBe(false);
    const link = w.link;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    const baseline = fdCount();
    const byPid = await load({ port, host: '127.0.0.1' }, 50, 4);
    expect(byPid.get(String(w.pid))).toBe(50);
    await expect.poll(() => link.unacknowledged, POLL).toBe(0);
    await expect.poll(fdCount, POLL).toBe(baseline);
  });

  it('gives the worker EOF when the primary closes the link, and keeps what it already sent there', async () => {
    const transport = createPrimaryTransport({ transport: 'native' });
    const dispatcher = new TestDispatcher();
    const w = startWorker(transport, dispatcher);
    await w.ready;
    const server = await listening({ port: 0, host: '127.0.0.1' });
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
    onCleanup(() => acceptor.close());
    const port = (acceptor.address as { port: number }).port;
    expect((await get({ port, host: '127.0.0.1' })).status).toBe(200);
    w.link.close();
    expect(w.link.closed).toBe(true);
    await expect.poll(async () => (await w.stats()).closed, POLL).toBe('eof');
  });

  it('brings the primary back to its fd count once workers, links and the acceptor are gone', async () => {
    const warmUp = async (): Promise<void> => {
      const transport = createPrimaryTransport({ transport: 'native' });
      const dispatcher = new TestDispatcher();
      const workers = [startWorker(transport, dispatcher), startWorker(transport, dispatcher)];
      await Promise.all(workers.map((w) => w.ready));
      const server = await listening({ port: 0, host: '127.0.0.1' });
      const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => dispatcher.place(c) });
      await load({ port: (acceptor.address as { port: number }).port, host: '127.0.0.1' }, 300, 8);
      acceptor.close();
      for (const w of workers) {
        w.child.kill('SIGKILL');
        await w.exited;
      }
      await expect.poll(() => workers.every((w) => w.link.closed), POLL).toBe(true);
    };
    await warmUp(); // libuv's signal pipe and the like are made once per process
    const baseline = fdCount();
    await warmUp();
    await expect.poll(fdCount, POLL).toBe(baseline);
  });

  it('rests on EMFILE and accepts again once fds are free, without losing a connection', async () => {
    const total = 120;
    const script = fileURLToPath(new URL('./fixtures/emfile.mjs', import.meta.url));
    const child = spawn('sh', ['-c', `ulimit -n 80 && exec "${process.execPath}" "${script}"`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, EXPECT: String(total) } });
    onCleanup(() => child.kill('SIGKILL'));
    const messages: Array<{ port?: number; accepted?: number; errors?: string[] }> = [];
    child.on('message', (m) => {
      messages.push(m as (typeof messages)[number]);
    });
    await expect.poll(() => messages[0]?.port, POLL).toBeGreaterThan(0);
    const clients: Socket[] = [];
    onCleanup(() => clients.forEach((c) => c.destroy()));
    for (let i = 0; i < total; i++) clients.push(connect({ port: messages[0]!.port!, host: '127.0.0.1' }).on('error', () => {}));
    await expect.poll(() => messages[1], POLL).toBeDefined();
    expect(messages[1]!.accepted).toBe(total);
    expect(messages[1]!.errors!.length).toBeGreaterThan(0);
    expect(new Set(messages[1]!.errors)).toEqual(new Set(['EMFILE']));
  });
});
