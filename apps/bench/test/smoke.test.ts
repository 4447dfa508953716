import { describe, expect, it } from 'vitest';
import { runCell } from '../dist/cell.js';
import { summarize } from '../dist/report.js';
import { allServers } from '../dist/servers.js';
import { WORKLOADS } from '../dist/workloads.js';

// One tiny cell of the bench, end to end: real servers, the real load generator, real /proc figures.
// It checks the shape of what is measured and that every request succeeded, never how fast.
describe('bench smoke', () => {
  it('measures a single process and handoff round-robin under keep-alive and churn, and summarizes them', async () => {
    const servers = allServers().filter((s) => s.name === 'single' || s.name === 'handoff:round-robin' || s.name === 'cluster-rr');
    const options = { seconds: 0.5, warmupSeconds: 0, node: process.execPath, pin: false, loader: 'autocannon' as const };
    const cells = [];
    for (const workload of WORKLOADS.filter((w) => w.name === 'keep-alive' || w.name === 'churn')) {
      for (const server of servers) cells.push(await runCell(server, workload, 1, 2, options));
    }
    for (const cell of cells) {
      expect(cell.errors, `${cell.workload} ${cell.server}`).toBe(0);
      expect(cell.rps).toBeGreaterThan(0);
      expect(cell.requestShares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(cell.workerRss).toBeGreaterThan(0);
    }
    const handoff = cells.find((c) => c.server === 'handoff:round-robin' && c.workload === 'keep-alive')!;
    expect(handoff.requestShares).toHaveLength(2);
    expect(handoff.connectionShares).toHaveLength(2);
    expect(handoff.primaryRss).toBeGreaterThan(0);
    const summaries = summarize(cells, new Set(['single', 'cluster-rr']));
    const churn = summaries.find((s) => s.server === 'handoff:round-robin' && s.workload === 'churn')!;
    expect(Number.isFinite(churn.vsClusterRr)).toBe(true);
    expect(Number.isFinite(churn.vsBestAnchor)).toBe(true);
  });
});
