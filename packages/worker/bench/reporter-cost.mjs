// What the load reporter costs the worker, in one process (Linux or not).
//
//   node packages/worker/bench/reporter-cost.mjs [--turns 200000]
//
// The reporter (src/reporter.ts) is driven as under churn: on each turn of the event loop one
// connection opens (loadChanged) and one closes (the tracker's onClose), and its `load` messages go
// over a real IPC channel to a child that only counts them. Its cost is this process's CPU
// (process.cpuUsage) against the same loop without a reporter, per connection; with the default
// coalescing (10 ms) and with a report every turn (what policies that read load ask for). Then
// the cost of the once-a-second sampled report (memory, event-loop delay p99) alone.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Reporter } from '../dist/reporter.js';

const { values } = parseArgs({ options: { turns: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' } } });
const turns = Number(values.turns);
const rounds = Number(values.rounds);

// The sink: a child that counts the reports it gets (handoff messages are tagged `NODE_HANDOFF`, so
// Node delivers them as 'internalMessage') and says how many on request.
const sink = spawn(process.execPath, ['-e', "let n = 0; process.on('internalMessage', () => n++); process.on('message', () => process.send(n));"], {
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const received = () => new Promise((resolve) => {
  sink.once('message', resolve);
  sink.send('count?');
});

const cpu = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** `turns` turns of the event loop, each calling `each` once; resolves with the CPU used, in µs. */
function loop(each) {
  return new Promise((resolve) => {
    let left = turns;
    const start = cpu();
    const wall = performance.now();
    const turn = () => {
      each();
      if (--left > 0) setImmediate(turn);
      else resolve({ used: cpu() - start, ms: performance.now() - wall });
    };
    setImmediate(turn);
  });
}

async function withReporter(coalesce) {
  process.env.HANDOFF_LOAD_COALESCE_MS = coalesce;
  const tracker = { sockets: new Set(), requests: 0, onClose: undefined };
  const reporter = new Reporter(sink, tracker);
  const before = await received();
  const { used, ms } = await loop(() => {
    tracker.requests++;
    reporter.loadChanged();
    tracker.onClose();
  });
  reporter.stop();
  await new Promise((r) => setTimeout(r, 50));
  const messages = (await received()) - before;
  return { used, messages, perSecond: (messages * 1000) / ms };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = { none: [], coalesced: [], everyTurn: [], msgsCoalesced: [], msgsEveryTurn: [], rateCoalesced: [], rateEveryTurn: [] };
for (let round = 0; round < rounds; round++) {
  let counter = 0;
  rows.none.push((await loop(() => void counter++)).used);
  const c = await withReporter('10');
  rows.coalesced.push(c.used);
  rows.msgsCoalesced.push(c.messages);
  rows.rateCoalesced.push(c.perSecond);
  const e = await withReporter('0');
  rows.everyTurn.push(e.used);
  rows.msgsEveryTurn.push(e.messages);
  rows.rateEveryTurn.push(e.perSecond);
}

// The sampled report alone: memoryUsage(), the histogram's p99 and reset, one send.
process.env.HANDOFF_LOAD_COALESCE_MS = '10';
const reporter = new Reporter(sink, { sockets: new Set(), requests: 0, onClose: undefined });
const samples = 20_000;
const start = cpu();
for (let i = 0; i < samples; i++) reporter.sendLoad(true);
const sampledUs = (cpu() - start) / samples;
reporter.stop();

const none = median(rows.none);
const perConn = (xs) => ((median(xs) - none) / turns).toFixed(2);
console.log(`Node ${process.version}, ${turns} turns x ${rounds} rounds, one connection opened and closed per turn; CPU of this process (median)`);
console.log('| reporting | µs per connection over no reporter | load messages per 1,000 connections | load messages per second |');
console.log('| --- | ---: | ---: | ---: |');
console.log(`| coalesced 10 ms (default) | ${perConn(rows.coalesced)} | ${((median(rows.msgsCoalesced) / turns) * 1000).toFixed(1)} | ${Math.round(median(rows.rateCoalesced))} |`);
console.log(`| every turn (policies that read load) | ${perConn(rows.everyTurn)} | ${((median(rows.msgsEveryTurn) / turns) * 1000).toFixed(1)} | ${Math.round(median(rows.rateEveryTurn))} |`);
console.log(`sampled report (memory + event-loop delay + send), once a second: ${sampledUs.toFixed(1)} µs each`);
sink.disconnect();
