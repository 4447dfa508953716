// The load generator in its own process (so it can be pinned to its own core): reads a LoadSpec as
// JSON from argv. It opens the idle connections (if any) first and holds them to the end; then the
// warm-up (if any); then it prints `WARM`, and waits for a line on stdin (the parent reads every server
// process's CPU counters in between); then it runs the measured load and prints the LoadResult as
// JSON on one line.
import { once } from 'node:events';
import { openIdle, runLoad, type LoadSpec } from './load.js';

const { warmupSeconds = 0, idle = 0, ...spec } = JSON.parse(process.argv[2] ?? '{}') as LoadSpec & { warmupSeconds?: number };
const closeIdle = idle > 0 ? await openIdle(spec.port, idle) : () => {};
if (warmupSeconds > 0) await runLoad({ ...spec, seconds: warmupSeconds });
process.stdout.write('WARM\n');
await once(process.stdin, 'data');
process.stdin.destroy();
const result = await runLoad(spec);
closeIdle();
process.stdout.write(`${JSON.stringify(result)}\n`);
