#!/usr/bin/env node
// pnpm bench [--quick] [--rounds N] [--duration S] [--workers N] [--workloads a,b] [--servers a,b]
//            [--node PATH] [--pin] [--loader autocannon|wrk] [--json PATH]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { runCell, type CellResult } from './cell.js';
import { wrkInstalled } from './load.js';
import { markdown, summarize } from './report.js';
import { allServers, canPin, supportsReusePort } from './servers.js';
import { WORKLOADS } from './workloads.js';

const QUICK_SERVERS = ['single', 'cluster-rr', 'cluster-none', 'reuseport', 'handoff:round-robin', 'handoff:least-connections', 'handoff:shared', 'handoff:balanced-shared', 'handoff:reuseport'];

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
    loader: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: pnpm bench [--quick] [--rounds N] [--duration S] [--warmup S] [--workers N] [--workloads keep-alive,churn,mixed,fairness,idle] [--servers single,cluster-rr,…,handoff:round-robin,…] [--node PATH] [--pin] [--loader autocannon|wrk] [--json PATH]');
  process.exit(0);
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const quick = values.quick;
const rounds = Number(values.rounds ?? (quick ? 1 : 3));
const seconds = Number(values.duration ?? (quick ? 1 : 5));
const warmupSeconds = Number(values.warmup ?? (quick ? 0.3 : 1));
const workers = Number(values.workers);
if (!Number.isInteger(rounds) || rounds < 1) fail('--rounds must be an integer >= 1');
if (!(seconds > 0)) fail('--duration must be a number of seconds > 0');
if (!Number.isInteger(workers) || workers < 1) fail('--workers must be an integer >= 1');
const node = values.node;
const nodeVersion = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
if (nodeVersion === '') fail(`--node ${node} is not a working Node.js binary`);
if (values.pin && !canPin()) fail('--pin needs taskset and 2 cores or more');
const loader = values.loader === undefined ? 'autocannon' : values.loader;
if (loader !== 'autocannon' && loader !== 'wrk') fail('--loader must be autocannon or wrk');
if (loader === 'wrk' && !wrkInstalled()) fail('--loader wrk: wrk is not installed');

const reusePort = supportsReusePort(node);
const wantedServers = values.servers?.split(',') ?? (quick ? QUICK_SERVERS : undefined);
const servers = allServers().filter((s) => (wantedServers === undefined || wantedServers.includes(s.name)) && (reusePort || (s.kind !== 'reuseport' && s.policy !== 'reuseport')));
const wantedWorkloads = values.workloads?.split(',') ?? (quick ? ['keep-alive', 'churn'] : undefined);
const workloads = WORKLOADS.filter((w) => wantedWorkloads === undefined || wantedWorkloads.includes(w.name));
if (servers.length === 0) fail('no server to run (see --servers)');
if (workloads.length === 0) fail('no workload to run (see --workloads)');

const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}`;
console.log(`# handoff bench, ${new Date().toISOString().slice(0, 10)}`);
console.log(`Node ${nodeVersion} (servers) on ${machine}; load generator: ${loader === 'wrk' ? 'wrk' : 'autocannon (keep-alive), a new-connection loop (churn)'}; ${workers} workers (fairness: 8); ${rounds} round(s) of ${seconds} s, interleaved; ${values.pin ? 'pinned: load on CPU 0, every server process on CPU 1' : 'unpinned'}.${reusePort ? '' : ' reusePort: not available on this Node.'}\n`);

const cells: CellResult[] = [];
const total = workloads.length * rounds * servers.length;
for (const workload of workloads) {
  for (let round = 1; round <= rounds; round++) {
    for (const server of servers) {
      process.stderr.write(`[${cells.length + 1}/${total}] ${workload.name} round ${round}: ${server.name}\n`);
      try {
        cells.push(await runCell(server, workload, round, workload.workers ?? workers, { seconds, warmupSeconds, node, pin: values.pin, loader }));
      } catch (error) {
        process.stderr.write(`  failed: ${(error as Error).message}\n`);
      }
    }
  }
}

const anchors = new Set(servers.filter((s) => s.anchor).map((s) => s.name));
const summaries = summarize(cells, anchors);
console.log(markdown(summaries, workloads));

const here = dirname(fileURLToPath(import.meta.url));
const jsonPath = resolve(values.json ?? resolve(here, '..', 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`));
mkdirSync(dirname(jsonPath), { recursive: true });
writeFileSync(jsonPath, `${JSON.stringify({ date: new Date().toISOString(), node: nodeVersion, machine, loader, pinned: values.pin, rounds, seconds, workers, cells, summaries }, null, 2)}\n`);
console.log(`Full result: ${jsonPath}`);
