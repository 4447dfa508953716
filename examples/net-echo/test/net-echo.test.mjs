import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, cleanups } = useExample(new URL('..', import.meta.url));

/**
 * Connects, sends `payload` (then ends the writing side), and resolves with the worker's pid (its
 * first line) and every byte echoed after it, once the server closed its side.
 */
function echo(port, payload) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.end(payload));
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const all = Buffer.concat(chunks);
      const newline = all.indexOf(0x0a);
      const match = /^pid (\d+)$/.exec(all.subarray(0, newline).toString('utf8'));
      if (match === null) return reject(new Error(`no pid line in ${JSON.stringify(all.subarray(0, 80).toString())}`));
      resolve({ pid: Number(match[1]), echoed: all.subarray(newline + 1) });
    });
  });
}

describe('examples/net-echo', () => {
  it('echoes raw TCP through a real primary, from both workers', async () => {
    const { primary, port } = await startPrimary({ listen: { protocol: 'tcp' } });

    const text = await echo(port, 'hello through handoff ü\n');
    expect(text.echoed.toString('utf8')).toBe('hello through handoff ü\n');
    expect(workerPids(primary)).toContain(text.pid);

    const bytes = randomBytes(1024 * 1024);
    const big = await echo(port, bytes);
    expect(big.echoed.length).toBe(bytes.length);
    expect(Buffer.compare(big.echoed, bytes)).toBe(0);

    const empty = await echo(port, Buffer.alloc(0));
    expect(empty.echoed.length).toBe(0);

    expect(sorted(await pidsServing(async () => (await echo(port, 'x')).pid))).toEqual(workerPids(primary));
  });

  it('keeps an interactive connection: each write comes back before the next is sent', async () => {
    const { port } = await startPrimary({ listen: { protocol: 'tcp' } });
    const socket = net.connect({ host: '127.0.0.1', port });
    cleanups.push(() => socket.destroy());
    let buffered = '';
    const waiters = [];
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      buffered += chunk;
      for (const w of waiters.splice(0)) w();
    });
    const until = async (text) => {
      while (!buffered.includes(text)) await new Promise((r) => waiters.push(r));
      buffered = buffered.slice(buffered.indexOf(text) + text.length);
    };
    await until('\n'); // the pid line
    for (let i = 0; i < 20; i++) {
      socket.write(`line ${i}\n`);
      await until(`line ${i}\n`);
    }
    expect(buffered).toBe('');
  });

  it('runs as its README says: `node primary.mjs` prints its address and echoes', async () => {
    const { child, port } = await startExamplePrimary();
    const served = await pidsServing(async () => (await echo(port, 'x')).pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
