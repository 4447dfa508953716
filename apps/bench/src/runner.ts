// The server under test, in its own process: `node runner.js <kind> <workers> [policy] [metrics]`.
// Prints one line `READY <port>` once every process serves; SIGTERM stops it and its children.
import cluster from 'node:cluster';
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createPrimary } from '@handoff/orchestrator';
import { serveMetrics } from '@handoff/metrics';
import { handle } from './app.js';
import { POLICIES } from './policies.js';

const [kind = 'single', workersArg = '2', policyName = 'round-robin', extra = ''] = process.argv.slice(2);
const workers = Number(workersArg);
const HOST = '127.0.0.1';

function ready(port: number): void {
  process.stdout.write(`READY ${port}\n`);
}

function listen(server: Server, options: object): Promise<number> {
  return new Promise((resolve) => server.listen(options, () => resolve((server.address() as { port: number }).port)));
}

async function main(): Promise<void> {
  switch (kind) {
    case 'single': {
      ready(await listen(createServer(handle), { port: 0, host: HOST }));
      return;
    }
    case 'cluster-rr':
    case 'cluster-none': {
      if (cluster.isPrimary) {
        cluster.schedulingPolicy = kind === 'cluster-rr' ? cluster.SCHED_RR : cluster.SCHED_NONE;
        let listening = 0;
        cluster.on('listening', (_worker, address) => {
          if (++listening === workers) ready(address.port);
        });
        for (let i = 0; i < workers; i++) cluster.fork();
        process.on('SIGTERM', () => {
          for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
          process.exit(0);
        });
      } else {
        // Port 0 in a cluster worker: every worker shares the primary's one ephemeral port.
        await listen(createServer(handle), { port: 0, host: HOST });
      }
      return;
    }
    case 'reuseport': {
      if (process.env.BENCH_REUSEPORT_PORT !== undefined) {
        await listen(createServer(handle), { port: Number(process.env.BENCH_REUSEPORT_PORT), host: HOST, reusePort: true });
        process.send?.('up');
        process.once('disconnect', () => process.exit(0));
        return;
      }
      // Reserve the port with a reusePort socket, then N plain processes join the group.
      const probe = createServer(handle);
      const port = await listen(probe, { port: 0, host: HOST, reusePort: true });
      const self = fileURLToPath(import.meta.url);
      const children = Array.from({ length: workers }, () => fork(self, process.argv.slice(2), { env: { ...process.env, BENCH_REUSEPORT_PORT: String(port) } }));
      await Promise.all(children.map((c) => new Promise((r) => c.once('message', r))));
      probe.close();
      process.on('SIGTERM', () => {
        for (const c of children) c.kill('SIGKILL');
        process.exit(0);
      });
      ready(port);
      return;
    }
    case 'handoff': {
      const policy = POLICIES[policyName];
      if (policy === undefined) throw new Error(`unknown policy ${policyName}`);
      const primary = createPrimary({
        worker: new URL('./worker-entry.js', import.meta.url),
        workers,
        listen: { port: 0, host: HOST },
        policy: policy(workers),
        handleSignals: false,
      });
      // `+metrics`: the endpoint on its own port, counting from the start, as the command does.
      if (extra === 'metrics') await serveMetrics(primary, { port: 0, host: HOST });
      await primary.start();
      process.on('SIGTERM', () => void primary.close({ timeout: 1000 }).finally(() => process.exit(0)));
      const address = primary.addresses()[0];
      ready(address !== undefined && 'port' in address ? address.port : 0);
      return;
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

await main();
