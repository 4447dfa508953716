// Micro-benchmark of one pick on 64 ready workers, per built-in policy. Plain node against dist:
//   pnpm --filter @handoff/policies build && node packages/policies/bench/pick.mjs [workers]
// Workers are class instances, as the orchestrator's WorkerProcess objects are; their load changes
// as picks land, as it does under the real dispatcher.
import { ipHash, leastConnections, peakEwma, powerOfTwoChoices, random, roundRobin, weighted } from '../dist/index.js';

const n = Number(process.argv[2] ?? 64);
class Worker {
  constructor(id, slot) {
    this.id = id;
    this.slot = slot;
    this.weight = 1;
    this.connections = 0;
    this.requests = 0;
    this.eventLoopDelay = 0;
    this.readySince = 0;
    this.reportedAt = 0;
  }
}
const workers = Array.from({ length: n }, (_, i) => new Worker(i + 1, i));
const infos = Array.from({ length: 1024 }, (_, i) => ({ listener: 0, remoteAddress: `10.0.${i >> 8}.${i & 255}`, remotePort: 40000 + i, family: 'IPv4' }));
const policies = {
  'round-robin': roundRobin(),
  'least-connections': leastConnections(),
  weighted: weighted({ weights: workers.map((_, i) => 1 + (i % 4)) }),
  'power-of-two-choices': powerOfTwoChoices(),
  'ip-hash': ipHash(),
  random: random(),
  'peak-ewma': peakEwma(),
};
const rounds = 5;
const perRound = 200_000;
console.log(`node ${process.version}, ${n} workers, ${perRound} picks x ${rounds} rounds, best round`);
console.log('policy                 ns/pick');
for (const [name, policy] of Object.entries(policies)) {
  let best = Infinity;
  for (let r = 0; r < rounds + 1; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perRound; i++) {
      const w = policy.pick(workers, infos[i & 1023]);
      // Open and (every other pick) close a connection, so the loads move.
      w.connections++;
      if (i & 1) workers[i % n].connections = Math.max(0, workers[i % n].connections - 1);
      // Now and then a load report, with a delay that moves (peak-ewma's decay runs on these).
      if ((i & 15) === 0) {
        const reporter = workers[(i >> 4) % n];
        reporter.reportedAt += 10;
        reporter.eventLoopDelay = (i >> 4) % 7;
      }
    }
    const ns = Number(process.hrtime.bigint() - t0) / perRound;
    if (r > 0) best = Math.min(best, ns); // round 0 warms up
  }
  console.log(`${name.padEnd(22)} ${best.toFixed(1).padStart(7)}`);
}
