import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { afterEach } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';

const workerUrl = new URL('../worker.mjs', import.meta.url);
const primaryPath = new URL('../primary.mjs', import.meta.url);

/** Every pid a test started (workers, and the example's own primary): killed in afterEach. */
const pids = new Set();
const cleanups = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  pids.clear();
});

/** Starts a real primary with 2 workers on 127.0.0.1, port 0; returns it and its port. */
async function startPrimary(options = {}) {
  const { listen, ...rest } = options;
  const primary = createPrimary({
    worker: workerUrl,
    workers: 2,
    listen: { port: 0, host: '127.0.0.1', ...listen },
    readyTimeout: 15_000,
    drainTimeout: 3000,
    handleSignals: false,
    ...rest,
  });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  cleanups.push(() => Promise.race([primary.close({ timeout: 2000 }), new Promise((r) => setTimeout(r, 8000))]));
  await primary.start();
  return { primary, port: primary.addresses()[0].port };
}

/** Runs `node primary.mjs` with PORT=0 (and `env`) as the README does; resolves with the port it prints. */
async function startExamplePrimary(env = {}) {
  const child = spawn(process.execPath, [primaryPath.pathname], { env: { ...process.env, PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  pids.add(child.pid);
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
  });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const match = /listening on [a-z]+:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`primary.mjs exited with ${code} before listening: ${out}`)));
  });
  return { child, port };
}

/** Calls `pidOnce()` (one exchange on a fresh connection) until two different pids answered, at most 20 times. */
async function pidsServing(pidOnce) {
  const seen = new Set();
  for (let i = 0; i < 20 && seen.size < 2; i++) seen.add(await pidOnce());
  for (const pid of seen) pids.add(pid);
  return seen;
}

/** The pids of the primary's workers, sorted. */
function workerPids(primary) {
  return primary.workers().map((w) => w.pid).sort((a, b) => a - b);
}

function sorted(set) {
  return [...set].sort((a, b) => a - b);
}

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
