// The server under test, in its own process: `node runner.js <kind> <workers> [policy] [metrics] [transport]`.
// Prints one line `READY <port> [transport]` once every process serves (a handoff server names the
// transport its primary chose); SIGTERM stops it and its children. A handoff primary also prints
// `REDISPATCH <worker pid> <reason>` for each connection it gave back from a worker and placed again
// (the crash workload counts them).
import cluster from 'node:cluster';
import { subscribe } from 'node:diagnostics_channel';
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createPrimary } from '@handoff/orchestrator';
import { serveMetrics } from '@handoff/metrics';
import { handle } from './app.js';
import { POLICIES } from './policies.js';

const [kind = 'single', workersArg = '2', policyName = 'round-robin', extra = '', transportArg = 'ipc'] = process.argv.slice(2);
const workers = Number(workersArg);
const HOST = '127.0.0.1';

function ready(port: number, transport?: string): void {
  process.stdout.write(`READY ${port}${transport === undefined ? '' : ` ${transport}`}\n`);
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
      if (transportArg !== 'ipc' && transportArg !== 'native') throw new Error(`unknown transport ${transportArg}`);
      // What start() chose, from fdpass's own channel: the row's label must be what ran.
      let selected: string | undefined;
      subscribe('handoff:transport:selected', (message) => {
        selected = (message as { transport?: string }).transport;
      });
      const pids = new Map<number, number>();
      // Published only when a connection is given back (a worker died or refused it): free otherwise.
      subscribe('handoff:connection:redispatch', (message) => {
        const { from, reason } = message as { from: number; reason: string };
        process.stdout.write(`REDISPATCH ${pids.get(from) ?? 0} ${reason}\n`);
      });
      const primary = createPrimary({
        worker: new URL('./worker-entry.js', import.meta.url),
        workers,
        listen: { port: 0, host: HOST },
        policy: policy(workers),
        handleSignals: false,
        // Explicit, so neither the default nor HANDOFF_TRANSPORT decides (the kernel modes ignore it).
        transport: transportArg,
      });
      primary.on('worker:spawn', (w) => pids.set(w.id, w.pid));
      // `+metrics`: the endpoint on its own port, counting from the start, as the command does.
      if (extra === 'metrics') await serveMetrics(primary, { port: 0, host: HOST });
      await primary.start();
      process.on('SIGTERM', () => void primary.close({ timeout: 1000 }).finally(() => process.exit(0)));
      const address = primary.addresses()[0];
      ready(address !== undefined && 'port' in address ? address.port : 0, selected ?? 'none');
      return;
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

await main();
