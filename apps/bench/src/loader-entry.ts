// The load generator in its own process (so it can be pinned to its own core): reads a LoadSpec as
// JSON from argv, then, talking to the bench by lines on stdin and stdout:
// 1. opens the idle connections (if any) and runs the warm-up (if any); prints `WARM`;
// 2. waits for a line (the bench reads every server process's CPU counters), runs the measured
//    load, prints the LoadResult as JSON on one line;
// 3. waits for a line (the bench reads CPU and RSS while the idle connections are still open),
//    closes the idle connections and exits.
import { createInterface } from 'node:readline';
import { openIdle, runLoad, type LoadSpec } from './load.js';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async (): Promise<void> => {
  await lines.next();
};

const { warmupSeconds = 0, idle = 0, ...spec } = JSON.parse(process.argv[2] ?? '{}') as LoadSpec & { warmupSeconds?: number };
const closeIdle = idle > 0 ? await openIdle(spec.port, idle) : () => {};
if (warmupSeconds > 0) await runLoad({ ...spec, seconds: warmupSeconds });
process.stdout.write('WARM\n');
await next();
process.stdout.write(`${JSON.stringify(await runLoad(spec))}\n`);
await next();
closeIdle();
process.exit(0);
