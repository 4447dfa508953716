#!/usr/bin/env node
// `pnpm soak`: no leak over time. Through each mode, churned connections, keep-alive requests and
// WebSocket sessions while the workers are reloaded every few seconds; then the primary's and every
// worker's open descriptors must be back to their baseline (±2) and their RSS after a GC within a
// few MB of it. Prints a table; exits 1 when a bound is broken. Run with --expose-gc (the pnpm
// script does). Options (flags or env): --connections (SOAK_CONNECTIONS, 100000), --keepalive
// (20000), --ws (2000), --modes (primary,shared,reuseport), --reload-every ms (3000), --json.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { createPrimary } from '../../packages/orchestrator/dist/index.js';
import { reusePort, roundRobin, sharedHandle } from '../../packages/policies/dist/index.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: process.env.SOAK_CONNECTIONS ?? '100000' },
    keepalive: { type: 'string', default: process.env.SOAK_KEEPALIVE ?? '20000' },
    ws: { type: 'string', default: process.env.SOAK_WS ?? '2000' },
    modes: { type: 'string', default: process.env.SOAK_MODES ?? 'primary,shared,reuseport' },
    'reload-every': { type: 'string', default: process.env.SOAK_RELOAD_EVERY ?? '3000' },
    'fd-slack': { type: 'string', default: '2' },
    // RSS after a GC keeps what the allocator has not returned (a fresh worker that served a burst
    // sits ~20 MB above a warmed one on Node 24): the heap after a GC is the leak's measure.
    'rss-slack-mb': { type: 'string', default: process.env.SOAK_RSS_SLACK_MB ?? '32' },
    'heap-slack-mb': { type: 'string', default: process.env.SOAK_HEAP_SLACK_MB ?? '4' },
    json: { type: 'boolean', default: false },
    // Internal: this script as the primary of one mode, in its own process (so the clients' memory
    // is not counted as the primary's), steered over IPC.
    serve: { type: 'string' },
  },
});
const N = { churn: Number(values.connections), keepalive: Number(values.keepalive), ws: Number(values.ws) };
const RELOAD_EVERY = Number(values['reload-every']);
const FD_SLACK = Number(values['fd-slack']);
const RSS_SLACK = Number(values['rss-slack-mb']) * 1024 * 1024;
const HEAP_SLACK = Number(values['heap-slack-mb']) * 1024 * 1024;
const POLICIES = { primary: roundRobin, shared: sharedHandle, reuseport: reusePort };
const app = new URL('./app.mjs', import.meta.url);
if (typeof globalThis.gc !== 'function') {
  console.error('soak: run with node --expose-gc (pnpm soak does)');
  process.exit(2);
}

if (values.serve !== undefined) {
  const mode = values.serve;
  const primary = createPrimary({ worker: app, workers: 2, listen: { port: 0, host: '127.0.0.1' }, policy: POLICIES[mode](), handleSignals: false, execArgv: ['--expose-gc'], drainTimeout: 3000 });
  try {
    await primary.start();
  } catch (error) {
    // reusePort on a Node without it (< 22.12): a row that says so, not a failed soak.
    process.send({ skipped: error.code === 'HANDOFF_ERR_REUSEPORT_UNSUPPORTED' ? `not on Node ${process.version}` : String(error.message) });
    process.exit(0);
  }
  process.on('message', async (m) => {
    if (m === 'probe') process.send({ probe: selfProbe(), pids: primary.workers().map((w) => w.pid) });
    if (m === 'reload') primary.reload().then(() => process.send({ reloaded: true }), () => process.send({ reloaded: false }));
    if (m === 'close') {
      await primary.close();
      process.exit(0);
    }
  });
  process.send({ port: primary.addresses()[0].port });
} else {
  await main();
}

function selfProbe() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { fds: readdirSync('/proc/self/fd').length, rss: m.rss, heap: m.heapUsed };
}

function getJson(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every current worker's probe (fresh connections until each pid answered). */
async function workerProbes(pids, port) {
  const want = new Set(pids);
  const seen = new Map();
  for (let i = 0; i < 200 && seen.size < want.size; i++) {
    const p = JSON.parse(await getJson(port, '/probe'));
    if (want.has(p.pid)) seen.set(p.pid, p);
  }
  return [...seen.values()];
}

/** One WebSocket session: handshake, three echoed messages, a close. */
function wsSession(port) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const key = randomBytes(16).toString('base64');
    let stage = 'handshake';
    let buffered = Buffer.alloc(0);
    let echoes = 0;
    const frame = (opcode, text) => {
      const payload = Buffer.from(text);
      const mask = randomBytes(4);
      const masked = Buffer.from(payload);
      for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i % 4];
      return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | payload.length]), mask, masked]);
    };
    socket.setTimeout(10_000, () => socket.destroy(new Error('ws timeout')));
    socket.on('connect', () => socket.write(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (stage === 'handshake') {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buffered.subarray(0, 12).toString().startsWith('HTTP/1.1 101')) return socket.destroy(new Error('ws: no 101'));
        buffered = buffered.subarray(end + 4);
        stage = 'open';
        for (let i = 0; i < 3; i++) socket.write(frame(0x1, `message ${i}`));
      }
      while (stage === 'open' && buffered.length >= 2 && buffered.length >= 2 + (buffered[1] & 0x7f)) {
        buffered = buffered.subarray(2 + (buffered[1] & 0x7f));
        if (++echoes === 3) {
          stage = 'closing';
          socket.write(frame(0x8, ''));
        }
      }
    });
    socket.on('close', () => (echoes === 3 ? resolve() : reject(new Error(`ws: ${echoes} echoes`))));
    socket.on('error', (e) => {
      socket.destroy();
      reject(e);
    });
  });
}

function churnOne(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function lanes(count, concurrency, one, result) {
  let left = count;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        try {
          await one();
          result.ok++;
        } catch (e) {
          result.failed++;
          if (result.errors.length < 5) result.errors.push(String(e.message ?? e));
        }
      }
    }),
  );
}

async function workload(port, n) {
  const result = { ok: 0, failed: 0, errors: [] };
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
  await Promise.all([
    lanes(n.churn, 16, () => churnOne(port), result),
    lanes(n.keepalive, 8, async () => {
      const res = await pool.request({ path: '/', method: 'GET' });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    }, result),
    lanes(n.ws, 8, () => wsSession(port), result),
  ]);
  await pool.close();
  return result;
}

/** The primary of `mode` in its own process: its port, and what asks it to probe, reload, close. */
async function startPrimary(mode) {
  const child = fork(new URL(import.meta.url), ['--serve', mode], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (key) => new Promise((resolve) => {
    const on = (m) => {
      if (key in m || 'skipped' in m) {
        child.off('message', on);
        resolve(m);
      }
    };
    child.on('message', on);
  });
  const started = await next('port');
  const ask = (what, key) => {
    const answer = next(key);
    child.send(what);
    return answer;
  };
  return {
    skipped: started.skipped,
    port: started.port,
    probe: () => ask('probe', 'probe'),
    reload: () => ask('reload', 'reloaded').then((m) => (m.reloaded ? undefined : Promise.reject(new Error('reload failed')))),
    close: () => new Promise((resolve) => {
      child.once('exit', resolve);
      child.send('close');
    }),
  };
}

async function soak(mode) {
  const primary = await startPrimary(mode);
  if (primary.skipped !== undefined) return { mode, skipped: primary.skipped };
  const port = primary.port;
  const probeAll = async () => {
    const { probe, pids } = await primary.probe();
    return { primary: probe, workers: await workerProbes(pids, port) };
  };
  // Warm up: what is allocated once (lazily) is not a leak.
  await workload(port, { churn: 500, keepalive: 500, ws: 50 });
  await new Promise((r) => setTimeout(r, 300));
  const before = await probeAll();
  const started = Date.now();
  let reloads = 0;
  let reloadErrors = 0;
  let reloading = Promise.resolve();
  const timer = setInterval(() => {
    reloading = primary.reload().then(() => void reloads++, () => void reloadErrors++);
  }, RELOAD_EVERY);
  const result = await workload(port, N);
  clearInterval(timer);
  await reloading;
  const seconds = (Date.now() - started) / 1000;
  // Let closes settle (the workers' load reports, TIME_WAIT is not ours).
  await new Promise((r) => setTimeout(r, 1000));
  const after = await probeAll();
  await primary.close();
  const fdsOf = (ws) => ws.map((w) => w.fds);
  const rssOf = (ws) => ws.map((w) => w.rss);
  const wb = fdsOf(before.workers);
  const problems = [];
  if (Math.abs(after.primary.fds - before.primary.fds) > FD_SLACK) problems.push(`primary fds ${before.primary.fds} -> ${after.primary.fds}`);
  if (after.primary.rss - before.primary.rss > RSS_SLACK) problems.push(`primary rss +${mb(after.primary.rss - before.primary.rss)} MB`);
  if (after.primary.heap - before.primary.heap > HEAP_SLACK) problems.push(`primary heap +${mb(after.primary.heap - before.primary.heap)} MB`);
  for (const w of after.workers) {
    if (w.fds > Math.max(...wb) + FD_SLACK || w.fds < Math.min(...wb) - FD_SLACK) problems.push(`worker ${w.pid} fds ${w.fds} (baseline ${wb.join('/')})`);
    if (w.rss > Math.max(...rssOf(before.workers)) + RSS_SLACK) problems.push(`worker ${w.pid} rss ${mb(w.rss)} MB`);
    if (w.heap > Math.max(...before.workers.map((b) => b.heap)) + HEAP_SLACK) problems.push(`worker ${w.pid} heap ${mb(w.heap)} MB`);
  }
  // reuseport resets what waits in a closing socket's queue on each reload (see the orchestrator's
  // README): counted and shown, not a leak.
  if (result.failed > 0 && mode !== 'reuseport') problems.push(`${result.failed} failed: ${result.errors.join('; ')}`);
  if (reloadErrors > 0) problems.push(`${reloadErrors} reloads failed`);
  return { mode, seconds, reloads, ...result, before, after, problems };
}

function mb(bytes) {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** One row of the table, for a mode's result. */
function row(r) {
  if (r.skipped !== undefined) return `| ${r.mode} | | | | | | | | | skipped: ${r.skipped} |`;
  const wf = (p) => p.workers.map((w) => w.fds).join('/');
  const wr = (p) => `${p.workers.map((w) => mb(w.rss)).join('/')} / ${p.workers.map((w) => mb(w.heap)).join('/')}`;
  return `| ${r.mode} | ${r.seconds.toFixed(0)} | ${r.reloads} | ${r.ok} | ${r.failed} | ${r.before.primary.fds} → ${r.after.primary.fds} | ${mb(r.before.primary.rss)} / ${mb(r.before.primary.heap)} → ${mb(r.after.primary.rss)} / ${mb(r.after.primary.heap)} | ${wf(r.before)} → ${wf(r.after)} | ${wr(r.before)} → ${wr(r.after)} | ${r.problems.length === 0 ? 'ok' : r.problems.join('; ')} |`;
}

async function main() {
  const rows = [];
  if (!values.json) {
    console.log(`soak: ${N.churn} churned connections, ${N.keepalive} keep-alive requests, ${N.ws} WebSocket sessions, a reload every ${RELOAD_EVERY} ms; Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
    console.log('| mode | s | reloads | ok | failed | primary fds | primary RSS / heap after GC (MB) | workers fds | workers RSS / heap after GC (MB) | result |');
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  }
  for (const mode of values.modes.split(',')) {
    const r = await soak(mode);
    rows.push(r);
    // Row by row: a long soak shows what it has so far.
    if (!values.json) console.log(row(r));
  }
  if (values.json) console.log(JSON.stringify(rows));
  process.exit(rows.every((r) => r.skipped !== undefined || r.problems.length === 0) ? 0 : 1);
}
