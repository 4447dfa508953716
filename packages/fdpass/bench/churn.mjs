#!/usr/bin/env node
// CPU per churned connection (a new connection per request, `Connection: close`) of a hello-world
// HTTP server run four ways, in one run, reported as ratios to a single process:
//   single          one process listening
//   cluster-rr      node:cluster, round-robin (the primary accepts and passes handles)
//   fdpass-native   the primary's addon accepts; fds go to the workers in acknowledged batches
//   fdpass-ipc      the same dispatcher on the IPC transport (Node's channel, one handle per round trip)
// Server CPU is utime + stime from /proc/<pid>/stat of every server process over the measured
// window, divided by the requests answered; the load generator is its own process, not counted.
//
//   node bench/churn.mjs [--duration=3] [--warmup=1] [--concurrency=32] [--workers=2]
//                        [--rounds=1] [--variants=single,cluster-rr,fdpass-native,fdpass-ipc]
//                        [--flush-delay-us=0] [--pin]
//
// --pin: the load generator on CPU 0, every server process on CPU 1 (taskset), as
// apps/bench/PROFILE.md measured.
//
// Not a test: run it on a quiet machine, briefly, and quote ratios.
import cluster from 'node:cluster';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const self = fileURLToPath(import.meta.url);
const dist = new URL('../dist/index.js', import.meta.url).href;
const { values: args } = parseArgs({
  options: {
    role: { type: 'string', default: 'harness' },
    variant: { type: 'string', default: '' },
    port: { type: 'string', default: '0' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    workers: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '1' },
    variants: { type: 'string', default: 'single,cluster-rr,fdpass-native,fdpass-ipc' },
    'flush-delay-us': { type: 'string', default: '0' },
    pin: { type: 'boolean', default: false },
  },
  strict: false,
});

const hello = (req, res) => res.end('hello');

// ---- load generator: lanes of fresh connections; says when the measured window starts and ends.
async function runLoad() {
  const port = Number(args.port);
  const concurrency = Number(args.concurrency);
  let count = 0;
  let errors = 0;
  let running = true;
  const one = () =>
    new Promise((resolve) => {
      const req = http.get({ port, host: '127.0.0.1', path: '/', agent: false }, (res) => {
        res.resume();
        res.on('end', () => {
          count++;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  const lanes = Array.from({ length: concurrency }, async () => {
    while (running) await one();
  });
  await new Promise((r) => setTimeout(r, Number(args.warmup) * 1000));
  const start = count;
  process.send({ type: 'start' });
  await new Promise((r) => setTimeout(r, Number(args.duration) * 1000));
  const requests = count - start;
  process.send({ type: 'end', requests, errors });
  running = false;
  await Promise.all(lanes);
  process.exit(0);
}

// ---- servers: each says { type: 'ready', port, pids } once it serves.
async function runServer() {
  const workers = Number(args.workers);
  const variant = args.variant;
  if (variant === 'single') {
    const server = http.createServer(hello).listen(0, '127.0.0.1', () => process.send({ type: 'ready', port: server.address().port, pids: [process.pid] }));
    return;
  }
  if (variant === 'cluster-rr') {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.setupPrimary({ exec: self, args: ['--role=cluster-worker'] });
    const pids = [process.pid];
    let port;
    for (let i = 0; i < workers; i++) {
      const w = cluster.fork();
      pids.push(w.process.pid);
      w.on('listening', (address) => {
        port = address.port;
        if (--pending === 0) process.send({ type: 'ready', port, pids });
      });
    }
    let pending = workers;
    return;
  }
  const { createPrimaryTransport } = await import(dist);
  const transport = createPrimaryTransport({ transport: variant === 'fdpass-native' ? 'native' : 'ipc', flushDelayUs: Number(args['flush-delay-us']) });
  const links = [];
  const waiting = [];
  let next = 0;
  const place = (c) => {
    for (let k = 0; k < links.length; k++) if (links[next++ % links.length].send(c)) return true;
    return false;
  };
  const flush = () => {
    while (waiting.length > 0 && place(waiting[0])) waiting.shift();
  };
  const pids = [process.pid];
  let ready = 0;
  const server = net.createServer();
  server.listen(0, '127.0.0.1', () => {
    const acceptor = transport.listen(server, { listener: 0, onConnection: (c) => (waiting.length === 0 && place(c)) || waiting.push(c) });
    for (let i = 0; i < workers; i++) {
      const plan = transport.prepareSpawn();
      const child = fork(self, ['--role=fdpass-worker'], plan.options({ stdio: ['inherit', 'inherit', 'inherit', 'ipc'] }));
      pids.push(child.pid);
      links.push(plan.attach(child, { onAcknowledged: flush, onClosed: (returned) => waiting.unshift(...returned), onNotReceived: (c) => waiting.unshift(c) }));
      child.on('message', () => {
        if (++ready === workers) process.send({ type: 'ready', port: acceptor.address.port, pids });
      });
    }
  });
}

async function runFdpassWorker() {
  const { createWorkerIntake } = await import(dist);
  const server = http.createServer(hello);
  createWorkerIntake({ onSocket: (socket) => server.emit('connection', socket) });
  process.send('ready');
  process.on('disconnect', () => process.exit(0));
}

// ---- harness
function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime + stime, in clock ticks of 10 ms
}

function waitFor(child, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (m?.type !== type) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`${type}: child exited with ${code}`)));
  });
}

/** Forks `self` with `argv`, on `cpu` (taskset; children inherit it) when --pin. */
function forkOn(cpu, argv) {
  if (!args.pin) return fork(self, argv, { stdio: 'inherit' });
  return fork(self, argv, { stdio: 'inherit', execPath: 'taskset', execArgv: ['-c', String(cpu), process.execPath] });
}

async function measure(variant) {
  const server = forkOn(1, ['--role=server', `--variant=${variant}`, `--workers=${args.workers}`, `--flush-delay-us=${args['flush-delay-us']}`]);
  try {
    const { port, pids } = await waitFor(server, 'ready');
    const load = forkOn(0, ['--role=load', `--port=${port}`, `--duration=${args.duration}`, `--warmup=${args.warmup}`, `--concurrency=${args.concurrency}`]);
    await waitFor(load, 'start');
    const before = pids.map(cpuMicros);
    const { requests, errors } = await waitFor(load, 'end');
    const after = pids.map(cpuMicros);
    const cpu = after.reduce((sum, a, i) => sum + a - before[i], 0);
    const primary = pids.length > 1 ? after[0] - before[0] : 0;
    return { variant, requests, errors, reqPerSec: requests / Number(args.duration), usPerConn: cpu / requests, primaryUsPerConn: primary / requests };
  } finally {
    server.kill('SIGKILL');
  }
}

async function harness() {
  const variants = args.variants.split(',');
  const results = new Map(variants.map((v) => [v, []]));
  for (let round = 0; round < Number(args.rounds); round++) for (const v of variants) results.get(v).push(await measure(v));
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rows = variants.map((v) => {
    const rs = results.get(v);
    return { variant: v, usPerConn: median(rs.map((r) => r.usPerConn)), primary: median(rs.map((r) => r.primaryUsPerConn)), reqPerSec: median(rs.map((r) => r.reqPerSec)), errors: rs.reduce((s, r) => s + r.errors, 0) };
  });
  const single = rows.find((r) => r.variant === 'single');
  const rr = rows.find((r) => r.variant === 'cluster-rr');
  console.log(`Node ${process.version}, ${args.workers} workers, ${args.concurrency} lanes, ${args.duration} s x ${args.rounds} round(s), flushDelayUs ${args['flush-delay-us']}${args.pin ? ', pinned' : ''}`);
  console.log('variant         CPU us/conn  (primary)  x single  req/s     x cluster-rr  errors');
  for (const r of rows) {
    const xs = single ? (r.usPerConn / single.usPerConn).toFixed(2) : '-';
    const xrr = rr ? (r.reqPerSec / rr.reqPerSec).toFixed(2) : '-';
    console.log(`${r.variant.padEnd(15)} ${r.usPerConn.toFixed(1).padStart(11)}  ${r.primary.toFixed(1).padStart(9)}  ${xs.padStart(8)}  ${r.reqPerSec.toFixed(0).padStart(8)}  ${xrr.padStart(12)}  ${r.errors}`);
  }
}

const roles = {
  harness,
  load: runLoad,
  server: runServer,
  'fdpass-worker': runFdpassWorker,
  'cluster-worker': () => http.createServer(hello).listen(0, '127.0.0.1'),
};
await roles[args.role]();
