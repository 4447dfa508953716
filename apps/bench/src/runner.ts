// The server under test, in its own process: `node runner.js <kind> <workers> [policy] [extra] [transport]`
// (extra: `metrics`, or `no-move` for a handoff primary with `moveOnDrain: false`; `tcp` for a proxy
// in stream mode). Kinds `haproxy` and `nginx`: the proxy (its binary in BENCH_PROXY_BIN) in front of
// <workers> single Node processes on as many ports; the runner prints `BACKENDS <pid>:<port>,…` before
// READY and after each rolling restart.
// Prints one line `READY <port> [transport]` once every process serves (a handoff server names the
// transport its primary chose); SIGTERM stops it and its children. A handoff primary also prints
// `REDISPATCH <worker pid> <reason>` for each connection it gave back from a worker and placed again
// (the crash workload counts them).
// SIGHUP asks for a rolling reload, each server the way it is done with it: a handoff primary's
// `reload()`; for node:cluster and reusePort, by hand, one worker at a time: fork the new one, wait
// until it listens, then close the old one's server (`worker.disconnect()` for cluster) and wait for
// it to exit, SIGKILLed after DRAIN_MS as handoff's drainTimeout does. A SIGHUP during a reload asks
// for one more after it (as handoff does). Each finished reload prints `RELOADED <moved> <ms>` (moved:
// the connections a handoff primary has moved so far, `-` for the others; ms: how long it took).
import cluster, { type Worker } from 'node:cluster';
import { subscribe } from 'node:diagnostics_channel';
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createPrimary } from '@handoff/orchestrator';
import { serveMetrics } from '@handoff/metrics';
import { handle } from './app.js';
import { POLICIES } from './policies.js';
import { RunningProxy, startBackend } from './proxy-server.js';

const [kind = 'single', workersArg = '2', policyName = 'round-robin', extra = '', transportArg = 'ipc'] = process.argv.slice(2);
const workers = Number(workersArg);
const HOST = '127.0.0.1';
/** How long an old worker may take to exit once told to close, before a SIGKILL: handoff's default drainTimeout. */
const DRAIN_MS = 8000;

/**
 * Calls `reload` on each SIGHUP, one at a time: a SIGHUP while one runs asks for one more after it,
 * however many come meanwhile. Prints `RELOADED <moved()> <ms it took>` as each ends.
 */
function onSighup(reload: () => Promise<void>, moved: () => string): void {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): void => {
    const started = performance.now();
    running = reload()
      .then(() => void process.stdout.write(`RELOADED ${moved()} ${Math.round(performance.now() - started)}\n`))
      .catch((error: unknown) => void process.stderr.write(`reload failed: ${(error as Error).message}\n`))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  process.on('SIGHUP', () => {
    if (running === undefined) run();
    else again = true;
  });
}

/** Replaces `olds` one by one: `start()` a new one and wait until it serves, then `retire(old)` and wait for its exit. */
async function oneByOne<T>(olds: readonly T[], start: () => Promise<unknown>, retire: (old: T) => Promise<void>): Promise<void> {
  for (const old of olds) {
    await start();
    await retire(old);
  }
}

/** Resolves when `exit` fires, SIGKILLing through `kill` if it takes longer than {@link DRAIN_MS}. */
function exitOrKill(exited: Promise<unknown>, kill: () => void): Promise<void> {
  const timer = setTimeout(kill, DRAIN_MS);
  return exited.then(() => clearTimeout(timer));
}

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
        // The restart people write by hand: a new worker, its 'listening', then the old one disconnected.
        onSighup(
          () =>
            oneByOne(
              Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined),
              () => new Promise((resolve) => cluster.fork().once('listening', resolve)),
              (old) => {
                const exited = new Promise((resolve) => old.once('exit', resolve));
                old.disconnect();
                return exitOrKill(exited, () => old.process.kill('SIGKILL'));
              },
            ),
          () => '-',
        );
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
        const server = createServer(handle);
        await listen(server, { port: Number(process.env.BENCH_REUSEPORT_PORT), host: HOST, reusePort: true });
        process.send?.('up');
        // A reload's 'close': stop listening (idle connections close too), exit once the rest have.
        process.on('message', (m) => m === 'close' && server.close(() => process.exit(0)));
        process.once('disconnect', () => process.exit(0));
        return;
      }
      // Reserve the port with a reusePort socket, then N plain processes join the group.
      const probe = createServer(handle);
      const port = await listen(probe, { port: 0, host: HOST, reusePort: true });
      const self = fileURLToPath(import.meta.url);
      const children = new Set<ChildProcess>();
      const start = (): Promise<unknown> => {
        const child = fork(self, process.argv.slice(2), { env: { ...process.env, BENCH_REUSEPORT_PORT: String(port) } });
        children.add(child);
        child.once('exit', () => children.delete(child));
        return new Promise((r) => child.once('message', r));
      };
      await Promise.all(Array.from({ length: workers }, start));
      probe.close();
      // By hand, as with cluster: a new process joins the group and listens, then the old one closes.
      onSighup(
        () =>
          oneByOne([...children], start, (old) => {
            const exited = new Promise((resolve) => old.once('exit', resolve));
            old.send('close');
            return exitOrKill(exited, () => old.kill('SIGKILL'));
          }),
        () => '-',
      );
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
        // `no-move`: a drain closes connections between requests instead of moving them (what moves buy).
        moveOnDrain: extra !== 'no-move',
      });
      primary.on('worker:spawn', (w) => pids.set(w.id, w.pid));
      // `+metrics`: the endpoint on its own port, counting from the start, as the command does.
      if (extra === 'metrics') await serveMetrics(primary, { port: 0, host: HOST });
      await primary.start();
      onSighup(
        () => primary.reload(),
        () => String(primary.stats().moved),
      );
      process.on('SIGTERM', () => void primary.close({ timeout: 1000 }).finally(() => process.exit(0)));
      const address = primary.addresses()[0];
      ready(address !== undefined && 'port' in address ? address.port : 0, selected ?? 'none');
      return;
    }
    case 'haproxy':
    case 'nginx': {
      const binary = process.env.BENCH_PROXY_BIN;
      if (binary === undefined) throw new Error(`${kind}: BENCH_PROXY_BIN is not set`);
      const backends = await Promise.all(Array.from({ length: workers }, () => startBackend(0)));
      const proxy = await RunningProxy.start(kind, extra === 'tcp' ? 'tcp' : 'http', binary, backends.map((b) => b.port));
      const announce = (): void => void process.stdout.write(`BACKENDS ${backends.map((b) => `${b.child.pid}:${b.port}`).join(',')}\n`);
      // A rolling restart in place, one backend at a time, as a deploy does with N processes on N
      // ports: out of the proxy's rotation (HAProxy's admin socket; nginx has none), a graceful stop
      // (SIGKILL after DRAIN_MS), a new process on the same port, back into rotation.
      onSighup(
        async () => {
          for (let i = 0; i < backends.length; i++) {
            const old = backends[i]!;
            await proxy.rotate(i, true);
            const exited = new Promise((resolve) => old.child.once('exit', resolve));
            old.child.send('close');
            await exitOrKill(exited, () => old.child.kill('SIGKILL'));
            backends[i] = await startBackend(old.port);
            await proxy.rotate(i, false);
          }
          announce();
        },
        () => '-',
      );
      process.on('SIGTERM', () =>
        void proxy.stop().finally(() => {
          for (const b of backends) b.child.kill('SIGKILL');
          process.exit(0);
        }),
      );
      announce();
      ready(proxy.port, 'proxy');
      return;
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

await main();
