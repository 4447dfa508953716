// The load generator in its own process (so it can be pinned to its own core): reads a LoadSpec as
// JSON from argv, prints the LoadResult as JSON.
import { runLoad, type LoadSpec } from './load.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
process.stdout.write(`${JSON.stringify(await runLoad(spec))}\n`);
