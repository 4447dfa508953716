import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';

const appUrl = new URL('../app.mjs', import.meta.url);
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

/** Resolves once `predicate()` holds, checking every 20 ms; rejects after `ms` saying what it waited for. */
async function until(predicate, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function get(port, path = '/') {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
      })
      .on('error', reject);
  });
}

/** The unmodified app under a real drop-in primary with 2 workers; each worker's stderr is kept by pid. */
async function startNest(options = {}) {
  const primary = createPrimary({ worker: appUrl, workers: 2, dropIn: { ports: { 3000: 0 } }, handleSignals: false, readyTimeout: 20_000, drainTimeout: 5000, output: 'pipe', ...options });
  const stderr = new Map();
  const recycled = [];
  const exits = [];
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  primary.on('worker:output', (w, { stream, chunk }) => {
    if (stream === 'stderr') stderr.set(w.pid, (stderr.get(w.pid) ?? '') + chunk.toString());
  });
  primary.on('worker:recycle', (w, { reason }) => recycled.push({ pid: w.pid, reason }));
  primary.on('worker:exit', (w, exit) => exits.push({ pid: w.pid, ...exit }));
  let closed = false;
  cleanups.push(() => (closed ? undefined : primary.close({ timeout: 2000 })));
  await primary.start();
  return { primary, port: primary.addresses()[0].port, stderr, recycled, exits, close: (o) => ((closed = true), primary.close(o)) };
}

/** What Nest's shutdown hooks (enableShutdownHooks(), app.close()) wrote in worker `pid`, in order. */
function hooksOf(stderr, pid) {
  return (stderr.get(pid) ?? '')
    .split('\n')
    .filter((line) => line.startsWith(`nestjs ${pid}: `))
    .map((line) => line.slice(`nestjs ${pid}: `.length));
}

const pidsOf = (primary) => primary.workers().map((w) => w.pid).sort((a, b) => a - b);

describe('examples/nestjs: an unmodified NestJS app in drop-in mode', () => {
  it("the app's own app.listen(3000) serves through the primary: two pids answer, address() is the real port, routes and DI work", async () => {
    // The app's source does not know handoff.
    expect(readFileSync(appUrl, 'utf8')).not.toMatch(/@handoff|serve\(/);
    const { primary, port } = await startNest();
    expect(port).not.toBe(3000);
    const served = new Set();
    for (let i = 0; i < 20 && served.size < 2; i++) {
      const res = await get(port);
      expect(res.status).toBe(200);
      expect(res.json.framework).toBe('nestjs');
      expect(res.json.address.port).toBe(port);
      served.add(res.json.pid);
    }
    expect([...served].sort((a, b) => a - b)).toEqual(pidsOf(primary));
    const hello = await get(port, '/hello/handoff');
    expect(hello.json.hello).toBe('handoff');
    expect((await get(port, '/nowhere')).status).toBe(404);
  });

  it("SIGTERM to one worker: Nest's shutdown hooks run, its app.close() closes the server, the others serve on, the primary replaces it", async () => {
    const { primary, port, stderr, recycled, exits } = await startNest();
    const [victim, other] = pidsOf(primary);
    process.kill(victim, 'SIGTERM');
    await until(() => recycled.length > 0, "the victim's recycle");
    expect(recycled).toEqual([{ pid: victim, reason: 'signal' }]);
    const answers = await Promise.all(Array.from({ length: 10 }, () => get(port)));
    expect(answers.every((a) => a.status === 200 && a.json.pid !== victim)).toBe(true);
    expect(answers.map((a) => a.json.pid)).toContain(other);
    await until(() => exits.some((e) => e.pid === victim), "the victim's exit");
    await until(() => primary.workers().length === 2 && primary.workers().every((w) => w.state === 'ready' && w.pid !== victim), 'a ready replacement');
    expect(exits.find((e) => e.pid === victim).expected).toBe(true);
    expect(hooksOf(stderr, victim)).toEqual(['onModuleDestroy', 'beforeApplicationShutdown(SIGTERM)', 'onApplicationShutdown(SIGTERM)']);
    // The other worker was not touched.
    expect(hooksOf(stderr, other)).toEqual([]);
  });

  it("on drain (the primary's close()), each worker runs Nest's shutdown: app.close() and its hooks, then exits", async () => {
    const { primary, port, stderr, exits, close } = await startNest();
    const workers = pidsOf(primary);
    expect((await get(port)).status).toBe(200);
    await close({ timeout: 5000 });
    expect(primary.state).toBe('stopped');
    expect(exits.map((e) => e.pid).sort((a, b) => a - b)).toEqual(workers);
    expect(exits.every((e) => e.expected)).toBe(true);
    for (const pid of workers) expect(hooksOf(stderr, pid)).toEqual(['onModuleDestroy', 'beforeApplicationShutdown(SIGTERM)', 'onApplicationShutdown(SIGTERM)']);
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves from two workers', async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('../primary.mjs', import.meta.url))], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] });
    pids.add(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 8000))]);
    });
    const port = await new Promise((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        out += chunk;
        const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`primary.mjs exited with ${code}: ${out}`)));
    });
    const served = new Set();
    for (let i = 0; i < 20 && served.size < 2; i++) served.add((await get(port)).json.pid);
    for (const pid of served) pids.add(pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
  });
});
