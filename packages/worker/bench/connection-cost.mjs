// What the worker adapter costs per connection, against a plain listening server.
//
//   node packages/worker/bench/connection-cost.mjs [--requests 20000] [--concurrency 32] [--rounds 3]
//     [--workers 1] [--servers plain,serve-alone,cluster-rr,cluster-none,handoff:round-robin,...]
//
// Each server runs in its own process tree (server.mjs); this process is the client: churn, one new
// TCP connection per request (`Connection: close`), which is where a connection's placement costs.
// The figure is CPU (user + system, from /proc: Linux) of the server's processes divided by the
// requests answered, after a warm-up; rounds are interleaved and the median is printed. With one
// worker every connection goes through the one adapter, so its cost is not diluted.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '1' },
    servers: { type: 'string', default: 'plain,serve-alone,cluster-rr,cluster-none,handoff:round-robin,handoff:least-connections,handoff:shared,handoff:balanced-shared' },
    json: { type: 'boolean', default: false },
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const servers = values.servers.split(',');

/** CPU time of a process, user + system, in microseconds (USER_HZ 100); 0 once it is gone. */
function cpuMicros(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');

/** One request on a new connection; resolves once the server closed it, with whether it answered 200. */
function once(port) {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    let head = '';
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(REQUEST));
    socket.on('data', (chunk) => {
      if (head.length < 16) head += chunk;
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(head.startsWith('HTTP/1.1 200')));
  });
}

async function churn(port, total) {
  let next = 0;
  let failed = 0;
  const loop = async () => {
    while (next++ < total) if (!(await once(port))) failed++;
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { failed, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function start(kind) {
  const child = fork(new URL('./server.mjs', import.meta.url), [kind], {
    env: { ...process.env, WORKERS: values.workers },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const info = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${kind} exited (${code}) before serving`)));
  });
  return { child, ...info };
}

async function stop(server) {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.disconnect();
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
  for (const pid of server.pids.workers) try { process.kill(pid, 'SIGKILL'); } catch {}
}

async function measure(kind) {
  const server = await start(kind);
  try {
    await churn(server.port, warmup);
    const workers0 = server.pids.workers.map(cpuMicros);
    const primary0 = server.pids.primary === null ? 0 : cpuMicros(server.pids.primary);
    const { failed, seconds } = await churn(server.port, requests);
    const workers = server.pids.workers.reduce((sum, pid, i) => sum + cpuMicros(pid) - workers0[i], 0);
    const primary = server.pids.primary === null ? 0 : cpuMicros(server.pids.primary) - primary0;
    return { kind, workerUs: workers / requests, primaryUs: primary / requests, rps: requests / seconds, failed };
  } finally {
    await stop(server);
  }
}

const results = new Map(servers.map((s) => [s, []]));
for (let round = 0; round < rounds; round++) {
  for (const kind of servers) {
    const r = await measure(kind);
    results.get(kind).push(r);
    process.stderr.write(`round ${round + 1} ${kind}: worker ${r.workerUs.toFixed(1)} µs, primary ${r.primaryUs.toFixed(1)} µs, ${Math.round(r.rps)} req/s, ${r.failed} failed\n`);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(results.get(servers[0]).map((r) => r.workerUs));
const rows = servers.map((kind) => {
  const rs = results.get(kind);
  const worker = median(rs.map((r) => r.workerUs));
  return { kind, worker, over: worker - base, primary: median(rs.map((r) => r.primaryUs)), rps: median(rs.map((r) => r.rps)), failed: rs.reduce((s, r) => s + r.failed, 0) };
});
if (values.json) console.log(JSON.stringify({ node: process.version, requests, concurrency, rounds, workers: Number(values.workers), rows }, null, 2));
else {
  console.log(`Node ${process.version}, ${values.workers} worker(s), churn: ${requests} requests x ${rounds} rounds, ${concurrency} connections at a time; CPU per request (median)`);
  console.log(`| server | worker µs (the one process for plain, serve-alone) | over ${servers[0]} | primary µs | req/s | failed |`);
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.kind} | ${r.worker.toFixed(1)} | ${r === rows[0] ? '' : (r.over >= 0 ? '+' : '') + r.over.toFixed(1)} | ${r.primary === 0 ? '' : r.primary.toFixed(1)} | ${Math.round(r.rps)} | ${r.failed} |`);
}
