import { describe, expect, it } from 'vitest';
// Built first, as in smoke.test.ts: the servers and the load generator are processes started from dist/.
import { runCell, type CellResult } from '../dist/cell.js';
import { parseResponse } from '../dist/load.js';
import { markdown, summarize } from '../dist/report.js';
import { allServers, selectServers } from '../dist/servers.js';
import { probeNative } from '../dist/transports.js';
import { RELOAD, reloadTimes, windowSeconds, WORKLOADS } from '../dist/workloads.js';

const reload = WORKLOADS.find((w) => w.name === 'reload')!;
const native = probeNative(process.execPath);

describe('the reload workload', () => {
  it('asks for a reload at 1 s and every 2 s after, none in the window\'s last 1.5 s, in a window of at least 5 s', () => {
    expect(reloadTimes(5)).toEqual([1, 3]);
    expect(reloadTimes(6)).toEqual([1, 3]);
    expect(reloadTimes(7)).toEqual([1, 3, 5]);
    expect(windowSeconds(reload, 1)).toBe(RELOAD.minSeconds);
    expect(windowSeconds(reload, 9)).toBe(9);
    expect(windowSeconds(WORKLOADS.find((w) => w.name === 'churn')!, 1)).toBe(1);
    expect(reload.load).toMatchObject({ kind: 'keep-alive-and-churn', connections: 32, churnConnections: 32 });
  });

  it('the load generator reads whole responses only, one at a time, and sees a Connection: close', () => {
    const one = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: keep-alive\r\n\r\npid:1234';
    expect(parseResponse(Buffer.from(one.slice(0, 20)))).toBeUndefined();
    expect(parseResponse(Buffer.from(one.slice(0, -1)))).toBeUndefined();
    expect(parseResponse(Buffer.from(one + one))).toEqual({ status: 200, close: false, body: 'pid:1234', length: one.length });
    expect(parseResponse(Buffer.from('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'))).toMatchObject({ status: 503, close: true, body: '' });
  });

  it('+no-move rows exist for round-robin (each transport) and shared, and run only when named', () => {
    const names = allServers().map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['handoff:round-robin+no-move@native', 'handoff:round-robin+no-move@ipc', 'handoff:shared+no-move']));
    expect(selectServers(undefined, ['native', 'ipc']).some((s) => s.noMove === true)).toBe(false);
    expect(selectServers(['handoff:round-robin+no-move'], ['ipc'])).toEqual([{ name: 'handoff:round-robin+no-move@ipc', kind: 'handoff', policy: 'round-robin', transport: 'ipc', noMove: true, anchor: false }]);
  });

  it('the table: per reload, divided by the reloads asked for, with why requests failed', () => {
    const cell = (server: string, reloadResult: CellResult['reload']): CellResult => ({ server, workload: 'reload', round: 1, workers: 2, pinned: false, loader: 'handoff-clients', rps: 1000, requests: 5000, p50: 1, p99: 9, errors: 0, primaryCpuPerRequest: 0, workersCpuPerRequest: 0, requestShares: [0.5, 0.5], connectionShares: [], cv: 0, primaryRss: 0, workerRss: 0, reload: reloadResult });
    const cells = [
      cell('cluster-rr', { asked: 2, done: 1, ms: 1500, failed: 10, reconnects: 40, moved: undefined, keepAliveFailed: { ECONNRESET: 6, 'closed unanswered': 3 }, churnFailed: { ECONNRESET: 1 } }),
      cell('handoff:round-robin@ipc', { asked: 2, done: 2, ms: 1000, failed: 0, reconnects: 0, moved: 64, keepAliveFailed: {}, churnFailed: {} }),
    ];
    const table = markdown(summarize(cells, new Set(['cluster-rr'])), [{ name: 'reload', description: 'tiny', pinned: false }]);
    expect(table).toContain('| cluster-rr | 1,000 <sub>1.00</sub> | 9.0 | 2 / 1 | 1.5 | 5.00 <sub>1.00</sub> | 20.00 <sub>1.00</sub> | – | keep-alive: ECONNRESET 6, keep-alive: closed unanswered 3, churn: ECONNRESET 1 |');
    expect(table).toContain('| **handoff:round-robin@ipc** | 1,000 <sub>1.00</sub> | 9.0 | 2 / 2 | 0.5 | 0.00 <sub>0.00</sub> | 0.00 <sub>0.00</sub> | 32.0 | – |');
  });

  it('handoff round-robin: two rolling reloads under keep-alive and churn clients, no failed request, no reconnect, connections moved', async () => {
    const spec = allServers().find((s) => s.name === (native.available ? 'handoff:round-robin@native' : 'handoff:round-robin@ipc'))!;
    const cell = await runCell(spec, reload, 1, 2, { seconds: 1, warmupSeconds: 0.2, node: process.execPath, pin: false, loader: 'autocannon' });
    expect(cell.requests).toBeGreaterThan(0);
    expect(cell.reload).toMatchObject({ asked: 2, failed: 0, reconnects: 0, keepAliveFailed: {}, churnFailed: {} });
    expect(cell.reload!.done).toBeGreaterThanOrEqual(1);
    expect(cell.reload!.moved).toBeGreaterThan(0);
    // Both the new workers answered: every request shows its pid.
    expect(cell.requestShares.filter((s) => s > 0).length).toBeGreaterThanOrEqual(2);
  });
});
