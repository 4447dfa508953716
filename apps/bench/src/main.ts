#!/usr/bin/env node
// pnpm bench [--quick] [--rounds N] [--duration S] [--warmup S] [--workers N] [--workloads a,b]
//            [--servers a,b] [--node PATH] [--pin | --no-pin] [--loader autocannon|wrk] [--json PATH]
//            [--exec-argv="FLAGS"] [--transports native,ipc]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCell, type CellResult } from './cell.js';
import { wrkInstalled } from './load.js';
import { markdown, summarize, type Section } from './report.js';
import { allServers, canPin, probeProxy, proxyOf, selectServers, supportsReusePort } from './servers.js';
import { parseTransports, probeNative, TRANSPORTS, type Transport } from './transports.js';
import { WORKLOADS } from './workloads.js';

/**
 * `--quick`: the anchors and one policy of each kind, keep-alive unpinned and churn pinned, 1 round;
 * round-robin on each transport, the rest of mode `primary` on the first (native where it loads).
 */
const quickServers = (first: Transport): string[] => ['single', 'cluster-rr', 'cluster-none', 'reuseport', 'haproxy-leastconn', 'nginx-rr', 'handoff:round-robin', `handoff:least-connections@${first}`, 'handoff:shared', 'handoff:balanced-shared'];
const QUICK_SECTIONS: readonly [string, boolean][] = [
  ['keep-alive', false],
  ['churn', true],
];
/**
 * The reload workload's servers unless `--servers` names others: the anchors that have workers (the
 * proxies' backends restarted in place, one at a time),
 * round-robin on each transport with and without moves, least-connections on the first, the shared
 * modes (shared also without moves).
 */
const reloadServers = (first: Transport): string[] => ['cluster-rr', 'cluster-none', 'reuseport', 'haproxy-leastconn', 'nginx-rr', 'handoff:round-robin', 'handoff:round-robin+no-move', `handoff:least-connections@${first}`, 'handoff:shared', 'handoff:shared+no-move', 'handoff:balanced-shared'];
/** Pinning matters where the server's CPU per connection is the question. */
const PINNED_WORKLOADS = new Set(['churn', 'mixed']);

const USAGE = `usage: pnpm bench [options]
  --quick              keep-alive (unpinned) and churn (pinned), the anchors (the proxies too), round-robin on each transport, least-connections (native where it loads), shared and balanced-shared, 1 round of 1 s after 1 s of warm-up: under a minute
  --rounds N           rounds, interleaved (default 3)
  --duration S         measured seconds per cell (default 5)
  --warmup S           warm-up seconds per cell, not measured (default 1)
  --workers N          worker processes (default 2; the fairness workload always uses 8)
  --workloads a,b      of: ${WORKLOADS.map((w) => w.name).join(', ')}
                       (reload: a window of at least 5 s, a rolling reload at 1 s and every 2 s; without
                       --servers, its own set: cluster, reuseport, handoff with and without moveOnDrain)
  --servers a,b        of: ${allServers().map((s) => s.name).join(', ')}
                       (handoff:<policy> without @: that policy on every transport of --transports;
                       haproxy-leastconn, nginx-rr: the proxy in front of N single Node processes,
                       skipped where it is not installed: BENCH_HAPROXY / BENCH_NGINX name a binary)
  --transports a,b     of: ${TRANSPORTS.join(', ')}: what every primary-mode handoff server runs on
                       (default: both where @handoff/fdpass's addon loads on --node, else ipc)
  --node PATH          run every server process on this Node binary (the load generator stays on this one)
  --pin / --no-pin     only pinned (load on CPU 0, servers on CPU 1) / only unpinned runs
                       (default: churn and mixed both ways, the rest unpinned)
  --loader NAME        autocannon (default) or wrk (when installed; it cannot count per-worker shares)
  --json PATH          full result (default apps/bench/results/<date>.json)
  --exec-argv="FLAGS"  Node flags for every server process, e.g. --exec-argv="--cpu-prof --cpu-prof-dir=/tmp/prof"`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    workers: { type: 'string', default: '2' },
    workloads: { type: 'string' },
    servers: { type: 'string' },
    node: { type: 'string', default: process.execPath },
    pin: { type: 'boolean', default: false },
    'no-pin': { type: 'boolean', default: false },
    loader: { type: 'string' },
    json: { type: 'string' },
    'exec-argv': { type: 'string' },
    transports: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function fail(message: string): never {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

const quick = values.quick;
const rounds = Number(values.rounds ?? (quick ? 1 : 3));
const seconds = Number(values.duration ?? (quick ? 1 : 5));
// Under 1 s of warm-up, churn measures the JIT: cluster-rr's CPU per request came out 2.4x its warm figure.
const warmupSeconds = Number(values.warmup ?? 1);
const workers = Number(values.workers);
if (!Number.isInteger(rounds) || rounds < 1) fail('--rounds must be an integer >= 1');
if (!(seconds > 0)) fail('--duration must be a number of seconds > 0');
if (!(warmupSeconds >= 0)) fail('--warmup must be a number of seconds >= 0');
if (!Number.isInteger(workers) || workers < 1) fail('--workers must be an integer >= 1');
if (values.pin && values['no-pin']) fail('--pin and --no-pin exclude each other');
const node = values.node;
const nodeVersion = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.trim() ?? '';
if (nodeVersion === '') fail(`--node ${node} is not a working Node.js binary`);
const pinnable = canPin();
if (values.pin && !pinnable) fail('--pin needs taskset and 2 cores or more');
const loader = values.loader ?? 'autocannon';
if (loader !== 'autocannon' && loader !== 'wrk') fail('--loader must be autocannon or wrk');
if (loader === 'wrk' && !wrkInstalled()) fail('--loader wrk: wrk is not installed');
const execArgv = values['exec-argv']?.split(/\s+/).filter((a) => a !== '') ?? [];

// The transports: both where the addon loads on the servers' Node, else IPC, said in the output.
const native = probeNative(node);
let transports: Transport[];
try {
  transports = values.transports === undefined ? TRANSPORTS.filter((t) => t !== 'native' || native.available) : parseTransports(values.transports);
} catch (error) {
  fail((error as Error).message);
}
if (transports.includes('native') && !native.available) fail(`--transports native: the native transport does not load on ${node}: ${native.reason}`);
const transportText = native.available ? `Transports: ${transports.join(', ')}.` : `Transports: ipc only: the native transport does not load (${native.reason}).`;

const reusePort = supportsReusePort(node);
const wantedServers = values.servers?.split(',') ?? (quick ? quickServers(transports[0]!) : undefined);
let selected: ReturnType<typeof selectServers>;
try {
  // The +metrics variants run only when named: they measure what metrics cost, not a policy.
  selected = selectServers(wantedServers, transports);
} catch (error) {
  fail((error as Error).message);
}
// A proxy not installed here: its rows are left out, and the output says so (the bench is not in CI).
const available = (list: typeof selected): typeof selected => list.filter((s) => (reusePort || (s.kind !== 'reuseport' && s.policy !== 'reuseport')) && proxyOf(s)?.available !== false);
const proxyText = (['haproxy', 'nginx'] as const)
  .map((kind) => {
    const probe = probeProxy(kind);
    return probe.available ? `${kind === 'haproxy' ? 'HAProxy' : 'nginx'} ${probe.version}` : `${kind} rows skipped: ${probe.reason}`;
  })
  .join('; ');
for (const s of selected.filter((x) => proxyOf(x)?.available === false)) process.stderr.write(`bench: ${s.name} skipped: ${(proxyOf(s) as { reason: string }).reason}\n`);
const servers = available(selected);
const forReload = values.servers === undefined ? available(selectServers(reloadServers(transports[0]!), transports)) : servers;
const nativeNamed = servers.find((s) => s.transport === 'native' && !native.available);
if (nativeNamed !== undefined) fail(`${nativeNamed.name}: the native transport does not load on ${node}: ${native.reason}`);
const wantedWorkloads = values.workloads?.split(',');
const unknownWorkload = wantedWorkloads?.find((n) => !WORKLOADS.some((w) => w.name === n));
if (unknownWorkload !== undefined) fail(`unknown workload ${unknownWorkload}`);
if (servers.length === 0) fail('no server to run (see --servers)');

// The plan: (workload, pinned) sections, each run as interleaved rounds over every server.
const sections: (Section & { workload: (typeof WORKLOADS)[number] })[] = [];
for (const workload of WORKLOADS) {
  if (wantedWorkloads !== undefined ? !wantedWorkloads.includes(workload.name) : quick && !QUICK_SECTIONS.some(([n]) => n === workload.name)) continue;
  let modes: boolean[];
  if (values.pin) modes = [true];
  else if (values['no-pin']) modes = [false];
  else if (quick && wantedWorkloads === undefined) modes = QUICK_SECTIONS.filter(([n]) => n === workload.name).map(([, p]) => p);
  else modes = PINNED_WORKLOADS.has(workload.name) && pinnable ? [false, true] : [false];
  // A crash or a reload is about what fails, not CPU: unpinned, unless --pin asks.
  if ((workload.crash !== undefined || workload.reload !== undefined || workload.pauses !== undefined) && !values.pin) modes = [false];
  for (const pinned of modes) sections.push({ name: workload.name, description: workload.description, pinned, workload });
}
if (sections.length === 0) fail('no workload to run (see --workloads)');

const started = new Date();
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(', ');
const loadAtStart = load();
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
const loaderText = loader === 'wrk' ? 'wrk (keep-alive, idle; churn with Connection: close), autocannon (fairness: fixed rate) and the bench\'s new-connection loop (mixed: two paths)' : 'autocannon (keep-alive, fairness, idle; programmatic) and the bench\'s new-connection-per-request loop (churn, mixed)';
console.log(`# handoff bench, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC\n`);
console.log(`Node ${nodeVersion} (servers; load generator on ${process.versions.node}) on ${machine}. Load generator: ${loaderText}. ${workers} workers (fairness: 8); ${rounds} round(s) of ${seconds} s after ${warmupSeconds} s of warm-up, interleaved; medians over rounds.${reusePort ? '' : ' reusePort: not available on this Node.'}${execArgv.length > 0 ? ` Server flags: ${execArgv.join(' ')}.` : ''} ${transportText} Proxies: ${proxyText}. Load average (1, 5, 15 min) at the start: ${loadAtStart}.\n`);

const cells: CellResult[] = [];
// The crash workload stops a worker, the reload workload replaces them: a single process has none.
const serversOf = (section: (typeof sections)[number]): typeof servers => {
  if (section.workload.reload !== undefined) return forReload.filter((s) => s.kind !== 'single');
  return section.workload.crash === undefined && section.workload.pauses === undefined ? servers : servers.filter((s) => s.kind !== 'single');
};
const total = sections.reduce((n, section) => n + rounds * serversOf(section).length, 0);
for (const section of sections) {
  for (let round = 1; round <= rounds; round++) {
    for (const server of serversOf(section)) {
      process.stderr.write(`[${cells.length + 1}/${total}] ${section.name}${section.pinned ? ' pinned' : ''} round ${round}: ${server.name}\n`);
      try {
        cells.push(await runCell(server, section.workload, round, section.workload.workers ?? workers, { seconds, warmupSeconds, node, pin: section.pinned, loader, execArgv }));
      } catch (error) {
        process.stderr.write(`  failed: ${(error as Error).message}\n`);
      }
    }
  }
}

const anchors = new Set([...servers, ...forReload].filter((s) => s.anchor).map((s) => s.name));
const summaries = summarize(cells, anchors);
console.log(markdown(summaries, sections));

const here = dirname(fileURLToPath(import.meta.url));
const jsonPath = resolve(values.json ?? resolve(here, '..', 'results', `${started.toISOString().replace(/[:.]/g, '-')}.json`));
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify({ date: started.toISOString(), node: nodeVersion, machine, loadAtStart, loadAtEnd: load(), proxies: proxyText, loader, rounds, seconds, warmupSeconds, workers, execArgv, transports, native, cells, summaries }, null, 2)}\n`);
console.log(`Full result: ${jsonPath} (${Math.round((Date.now() - started.getTime()) / 1000)} s; load average at the end: ${load()})`);
