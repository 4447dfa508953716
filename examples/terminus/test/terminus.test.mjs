import http from 'node:http';
import { describe, expect, it } from 'vitest';
import { useExample } from '../../../tools/testing/src/examples.js';

const { startPrimary, startExamplePrimary, pidsServing, workerPids, sorted, request } = useExample(new URL('..', import.meta.url));

/** Resolves once `predicate()` holds, checking every 20 ms; rejects after `ms` saying what it waited for. */
async function until(predicate, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Starts a slow request: a POST /upload whose body the test sends in two parts. Resolves once the
 * response's status line and headers arrived (the worker holds it), with `finish()`, which sends the
 * rest of the body and resolves with the whole response.
 */
function startUpload(port) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      const done = new Promise((resolveDone, rejectDone) => {
        res.on('end', () => resolveDone({ status: res.statusCode, headers: res.headers, complete: res.complete, json: JSON.parse(text) }));
        res.on('error', rejectDone);
        req.on('error', rejectDone);
      });
      resolve({
        status: res.statusCode,
        pid: Number(res.headers['x-pid']),
        finish() {
          req.end(Buffer.alloc(1000, 'b'));
          return done;
        },
      });
    });
    req.write(Buffer.alloc(1000, 'a'));
  });
}

describe('examples/terminus', () => {
  it("SIGTERM to one worker: terminus closes its server, the slow request on it completes with 200, new connections go to the other worker, the primary replaces it", async () => {
    const { primary, port } = await startPrimary({ output: 'pipe', drainTimeout: 20_000 });
    const stderr = new Map();
    primary.on('worker:output', (w, { stream, chunk }) => {
      if (stream === 'stderr') stderr.set(w.pid, (stderr.get(w.pid) ?? '') + chunk.toString());
    });
    const recycled = [];
    primary.on('worker:recycle', (w, { reason }) => recycled.push({ pid: w.pid, reason }));
    const exits = [];
    primary.on('worker:exit', (w, exit) => exits.push({ pid: w.pid, ...exit }));
    const before = workerPids(primary);

    const upload = await startUpload(port);
    expect(upload.status).toBe(200);
    const victim = upload.pid;
    expect(before).toContain(victim);
    const other = before.find((pid) => pid !== victim);

    // What Kubernetes or systemd would send to one process; terminus traps it and closes the server.
    process.kill(victim, 'SIGTERM');
    // The worker told the primary that its app closed its server: it gets no new connection.
    await until(() => recycled.length > 0, "the victim's recycle");
    expect(recycled).toEqual([{ pid: victim, reason: 'server-closed' }]);

    // While the slow request is still in flight on the victim, every new connection is served
    // (never refused), and not by the victim; terminus's health check answers elsewhere too.
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(port, '/')));
    expect(answers.every((a) => a.status === 200 && a.json.pid !== victim)).toBe(true);
    expect(answers.map((a) => a.json.pid)).toContain(other);
    const health = await request(port, '/healthz');
    expect(health.status).toBe(200);
    expect(health.json.info.pid).not.toBe(victim);
    expect(exits.map((e) => e.pid)).not.toContain(victim);

    // The slow request completes, whole.
    const done = await upload.finish();
    expect(done.status).toBe(200);
    expect(done.complete).toBe(true);
    expect(done.json).toEqual({ pid: victim, bytes: 2000 });

    // The victim exits once terminus is done, and a replacement takes its slot.
    await until(() => exits.some((e) => e.pid === victim), "the victim's exit");
    await until(() => primary.workers().length === 2 && primary.workers().every((w) => w.state === 'ready' && w.pid !== victim), 'a ready replacement');
    expect(exits.find((e) => e.pid === victim).expected).toBe(true);
    expect(workerPids(primary)).toContain(other);
    // terminus ran its whole shutdown in the victim: its onSignal and onShutdown hooks finished.
    expect(stderr.get(victim)).toContain(`worker ${victim}: SIGTERM, server closed, cleaning up`);
    expect(stderr.get(victim)).toContain(`worker ${victim}: shutdown complete`);

    // Both slots serve again.
    expect(sorted(await pidsServing(async () => (await request(port, '/')).json.pid))).toEqual(workerPids(primary));
  });

  it("on drain (the primary's close()), terminus's shutdown runs in each worker: the in-flight request completes, its hooks finish, the worker exits", async () => {
    const { primary, port } = await startPrimary({ output: 'pipe', drainTimeout: 20_000 });
    const stderr = new Map();
    primary.on('worker:output', (w, { stream, chunk }) => {
      if (stream === 'stderr') stderr.set(w.pid, (stderr.get(w.pid) ?? '') + chunk.toString());
    });
    const exits = [];
    primary.on('worker:exit', (w, exit) => exits.push({ pid: w.pid, ...exit }));
    const workers = workerPids(primary);
    const upload = await startUpload(port);
    // A drain reaches an app that handles SIGTERM itself as that SIGTERM, as its process manager
    // would send it alone; terminus closes the server and waits for the upload.
    const draining = new Set();
    primary.on('worker:drain', (w, { phase }) => phase === 'started' && draining.add(w.pid));
    const closing = primary.close({ timeout: 20_000 });
    await until(() => draining.has(upload.pid), "the upload's worker to start draining");
    // Still in flight: the worker waits for it.
    expect(exits.map((e) => e.pid)).not.toContain(upload.pid);
    const done = await upload.finish();
    expect(done.status).toBe(200);
    expect(done.json).toEqual({ pid: upload.pid, bytes: 2000 });
    await closing;
    expect(primary.state).toBe('stopped');
    expect(sorted(exits.map((e) => e.pid))).toEqual(workers);
    expect(exits.every((e) => e.expected)).toBe(true);
    for (const pid of workers) {
      expect(stderr.get(pid)).toContain(`worker ${pid}: SIGTERM, server closed, cleaning up`);
      expect(stderr.get(pid)).toContain(`worker ${pid}: shutdown complete`);
    }
  });

  it('runs as its README says: `node primary.mjs` prints its address and serves', async () => {
    const { child, port } = await startExamplePrimary();
    const served = await pidsServing(async () => (await request(port, '/')).json.pid);
    expect(served.size).toBe(2);
    expect(served.has(child.pid)).toBe(false);
    const health = await request(port, '/healthz');
    expect(health.json.status).toBe('ok');
  });
});
