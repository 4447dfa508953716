import { describe, expect, it } from 'vitest';
// The bench is built (dist/) by the test command before vitest runs: its servers and load generator
// are separate processes started from dist/.
import { runCell } from '../dist/cell.js';
import { allServers } from '../dist/servers.js';
import { markdown, summarize } from '../dist/report.js';
import { WORKLOADS } from '../dist/workloads.js';

const server = (name: string) => {
  const spec = allServers().find((s) => s.name === name);
  if (spec === undefined) throw new Error(`no server ${name}`);
  return spec;
};
const workload = (name: string) => {
  const w = WORKLOADS.find((x) => x.name === name);
  if (w === undefined) throw new Error(`no workload ${name}`);
  return w;
};
const tiny = { seconds: 0.5, warmupSeconds: 0.1, node: process.execPath, pin: false, loader: 'autocannon' as const };

describe('the bench, one tiny cell', () => {
  it('knows every anchor and at least the handoff policies of each mode', () => {
    const names = allServers().map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['single', 'cluster-rr', 'cluster-none', 'reuseport', 'handoff:round-robin', 'handoff:shared', 'handoff:balanced-shared']));
  });

  it('handoff round-robin under churn: requests succeed on both workers, with CPU and memory figures', async () => {
    const cell = await runCell(server('handoff:round-robin'), workload('churn'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'handoff:round-robin', workload: 'churn', round: 1, workers: 2, pinned: false, errors: 0 });
    expect(cell.requests).toBeGreaterThan(0);
    expect(cell.rps).toBeGreaterThan(0);
    expect(cell.p99).toBeGreaterThanOrEqual(cell.p50);
    // The app names its pid: round-robin sends every other connection to each of the 2 workers.
    expect(cell.requestShares).toHaveLength(2);
    expect(cell.requestShares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(cell.requestShares[1]).toBeGreaterThan(0);
    for (const key of ['primaryCpuPerRequest', 'workersCpuPerRequest', 'cv'] as const) expect(Number.isFinite(cell[key])).toBe(true);
    expect(cell.primaryRss).toBeGreaterThan(0);
    expect(cell.workerRss).toBeGreaterThan(0);

    const summaries = summarize([cell], new Set(['single', 'cluster-rr']));
    expect(summaries).toHaveLength(1);
    const table = markdown(summaries, [{ name: 'churn', description: 'tiny', pinned: false }]);
    expect(table).toContain('| **handoff:round-robin** |');
  });

  it('a single process under keep-alive (autocannon): one process answers every request', async () => {
    const cell = await runCell(server('single'), workload('keep-alive'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'single', workers: 1, errors: 0, primaryRss: 0 });
    expect(cell.requests).toBeGreaterThan(0);
    expect(cell.requestShares).toEqual([1]);
    expect(cell.connectionShares).toEqual([1]);
  });
});
