import { describe, expect, it } from 'vitest';
// The bench is built (dist/) by the test command before vitest runs: its servers and load generator
// are separate processes started from dist/.
import { runCell } from '../dist/cell.js';
import { processState } from '../dist/proc.js';
import { allServers, selectServers } from '../dist/servers.js';
import { markdown, summarize } from '../dist/report.js';
import { parseTransports, probeNative } from '../dist/transports.js';
import { WORKLOADS } from '../dist/workloads.js';

const native = probeNative(process.execPath);

const server = (name: string) => {
  const spec = allServers(['native', 'ipc']).find((s) => s.name === name);
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
  it('knows every anchor and at least the handoff policies of each mode, primary-mode ones on each transport', () => {
    const names = allServers().map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['single', 'cluster-rr', 'cluster-none', 'reuseport', 'handoff:round-robin@native', 'handoff:round-robin@ipc', 'handoff:ip-hash@ipc', 'handoff:shared', 'handoff:balanced-shared']));
    // The kernel modes pass no connection: one row each, no transport.
    expect(names).not.toContain('handoff:shared@ipc');
    expect(allServers(['ipc']).map((s) => s.name)).not.toContain('handoff:round-robin@native');
    expect(server('handoff:least-connections@native')).toMatchObject({ kind: 'handoff', policy: 'least-connections', transport: 'native' });
  });

  it('--servers and --transports: a policy without @ runs on each transport asked for, one with @ on that one', () => {
    expect(parseTransports('ipc,native')).toEqual(['native', 'ipc']);
    expect(() => parseTransports('tcp')).toThrow(/unknown transport tcp/);
    const names = (wanted: string[] | undefined, transports: ('native' | 'ipc')[]) => selectServers(wanted, transports).map((s) => s.name);
    expect(names(['cluster-rr', 'handoff:round-robin', 'handoff:shared'], ['native', 'ipc'])).toEqual(['cluster-rr', 'handoff:round-robin@native', 'handoff:round-robin@ipc', 'handoff:shared']);
    expect(names(['handoff:round-robin'], ['ipc'])).toEqual(['handoff:round-robin@ipc']);
    expect(names(['handoff:least-connections@native'], ['ipc'])).toEqual(['handoff:least-connections@native']);
    expect(names(undefined, ['ipc'])).not.toContain('handoff:round-robin+metrics@ipc');
    expect(() => selectServers(['handoff:nope'], ['ipc'])).toThrow(/unknown server handoff:nope/);
  });

  it('the probe answers whether the native transport loads', () => {
    expect(typeof native.available).toBe('boolean');
    if (!native.available) expect(native.reason).toEqual(expect.any(String));
  });

  it.skipIf(!native.available)('handoff round-robin on the native transport under churn: the primary ran on it, both workers served', async () => {
    const cell = await runCell(server('handoff:round-robin@native'), workload('churn'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'handoff:round-robin@native', errors: 0 });
    expect(cell.requests).toBeGreaterThan(0);
    expect(cell.requestShares[1]).toBeGreaterThan(0);
  });

  it('crash: a worker stopped then killed mid-window; every request is counted as answered, failed or hung', async () => {
    const spec = server(native.available ? 'handoff:round-robin@native' : 'handoff:round-robin@ipc');
    const cell = await runCell(spec, workload('crash'), 1, 2, { ...tiny, seconds: 1 });
    expect(cell.requests).toBeGreaterThan(0);
    const crash = cell.crash!;
    expect(crash).toMatchObject({ killedBy: 'bench' });
    for (const key of ['held', 'failed', 'hung', 'returned'] as const) expect(Number.isInteger(crash[key]) && crash[key] >= 0).toBe(true);
    expect(crash.failed).toBe(cell.errors);
    expect(processState(crash.victim)).toBeUndefined();
    const [summary] = summarize([cell], new Set(['cluster-rr']));
    const table = markdown([summary!], [{ name: 'crash', description: 'tiny', pinned: false }]);
    expect(table).toContain('held by the stopped worker');
    expect(table).toContain(`| **${spec.name}** |`);
    await expect(runCell(server('single'), workload('crash'), 1, 2, tiny)).rejects.toThrow(/no worker to stop/);
  });

  it('handoff round-robin under churn: requests succeed on both workers, with CPU and memory figures', async () => {
    const cell = await runCell(server('handoff:round-robin@ipc'), workload('churn'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'handoff:round-robin@ipc', workload: 'churn', round: 1, workers: 2, pinned: false, errors: 0 });
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
    expect(table).toContain('| **handoff:round-robin@ipc** |');
  });

  it('a single process under keep-alive (autocannon): one process answers every request', async () => {
    const cell = await runCell(server('single'), workload('keep-alive'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'single', workers: 1, errors: 0, primaryRss: 0 });
    expect(cell.requests).toBeGreaterThan(0);
    expect(cell.requestShares).toEqual([1]);
    expect(cell.connectionShares).toEqual([1]);
  });
});
