#!/usr/bin/env node
// node apps/bench/dist/merge.js a.json b.json … : one report from the results of several runs, for a
// full run taken a workload at a time (each under the machine's lock, so that others' tests run
// between): the cells of every file together, summarized and tabled as one run's would be. Ratios
// stay within a table (one workload and pinning), so they are only as comparable as the runs were:
// the header names each file's date, Node and load average.
import { readFileSync } from 'node:fs';
import type { CellResult } from './cell.js';
import { markdown, summarize, type Section } from './report.js';
import { allServers } from './servers.js';
import { WORKLOADS } from './workloads.js';

interface RunFile {
  readonly date: string;
  readonly node: string;
  readonly machine: string;
  readonly loadAtStart?: string;
  readonly loadAtEnd?: string;
  readonly cells: readonly CellResult[];
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node apps/bench/dist/merge.js RESULT.json…');
  process.exit(2);
}
const runs = files.map((f) => ({ file: f, run: JSON.parse(readFileSync(f, 'utf8')) as RunFile }));
const cells = runs.flatMap(({ run }) => run.cells);
const anchors = new Set(allServers().filter((s) => s.anchor).map((s) => s.name));
// Sections in the bench's own order: each workload unpinned, then pinned, where it has cells.
const sections: Section[] = WORKLOADS.flatMap((w) =>
  [false, true].filter((pinned) => cells.some((c) => c.workload === w.name && c.pinned === pinned)).map((pinned) => ({ name: w.name, description: w.description, pinned })),
);
console.log(`Merged from ${runs.length} run(s):\n`);
for (const { file, run } of runs) {
  const workloads = [...new Set(run.cells.map((c) => c.workload))].join(', ');
  console.log(`- ${file}: ${run.date.slice(0, 16).replace('T', ' ')} UTC, Node ${run.node}, ${workloads}; load average ${run.loadAtStart ?? '?'} at the start, ${run.loadAtEnd ?? '?'} at the end`);
}
console.log('');
console.log(markdown(summarize(cells, anchors), sections));
