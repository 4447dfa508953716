// One server under test, in its own process tree. argv[2] names it; it sends the driver
// { port, pids: { primary, workers } } over IPC once it is serving, and exits when the driver
// disconnects. Every kind answers the same tiny HTTP app.
import cluster from 'node:cluster';
import { createServer } from 'node:http';

const kind = process.argv[2];
const app = (req, res) => res.end('ok');

function ready(port, primaryPid, workers) {
  process.send({ port, pids: { primary: primaryPid, workers } });
  process.on('disconnect', () => process.exit(0));
}

if (kind === 'plain') {
  // A bare server that accepts its own connections: the floor.
  const server = createServer(app).listen(0, '127.0.0.1', () => ready(server.address().port, null, [process.pid]));
} else if (kind === 'serve-alone') {
  // serve() outside a worker: listens itself, as in development.
  const { serve } = await import('../dist/index.js');
  process.env.PORT = '0';
  const server = createServer(app);
  serve(server, { port: 0 });
  server.once('listening', () => ready(server.address().port, null, [process.pid]));
} else if (kind === 'cluster-rr' || kind === 'cluster-none') {
  // node:cluster: SCHED_RR (the primary accepts and passes each handle) or SCHED_NONE.
  cluster.schedulingPolicy = kind === 'cluster-rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  if (cluster.isPrimary) {
    const workers = Number(process.env.WORKERS ?? 1);
    const pids = [];
    let pending = workers;
    for (let i = 0; i < workers; i++) {
      const w = cluster.fork();
      pids.push(w.process.pid);
      w.on('message', (m) => {
        if (m.listening === undefined) return;
        if (--pending === 0) ready(m.listening, process.pid, pids);
      });
    }
    process.on('disconnect', () => {
      for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
    });
  } else {
    // Every worker's listen(0) gets the same port: cluster shares a listener by its key.
    const server = createServer(app).listen(0, '127.0.0.1', () =>
      process.send({ listening: server.address().port }),
    );
  }
} else if (kind.startsWith('handoff:')) {
  const { createPrimary } = await import('../../orchestrator/dist/index.js');
  const policies = await import('../../policies/dist/index.js');
  const factory = { 'round-robin': policies.roundRobin, 'least-connections': policies.leastConnections, shared: policies.sharedHandle, 'balanced-shared': policies.balancedShared }[kind.slice(8)];
  const pids = new Set();
  const primary = createPrimary({
    worker: new URL('./worker.mjs', import.meta.url),
    workers: Number(process.env.WORKERS ?? 1),
    policy: factory(),
    listen: { port: 0, host: '127.0.0.1' },
    handleSignals: false,
  });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  await primary.start();
  process.on('disconnect', () => {
    for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch {}
    process.exit(0);
  });
  ready(primary.addresses()[0].port, process.pid, [...pids]);
} else {
  console.error(`unknown server kind: ${kind}`);
  process.exit(2);
}
