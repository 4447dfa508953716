import { describe, expect, it } from 'vitest';
import { renderTop } from '../src/top.js';
import type { PrimaryStatus, WorkerStatus } from '../src/control/handlers.js';

const worker = (id: number, instance: number, requests: number): WorkerStatus => ({ id, instance, pid: 1000 + id, state: 'ready', uptimeMs: 5000, restarts: 0, connections: 3, requests, rss: 50 * 1024 * 1024, cpu: 12.5, eventLoopDelay: 1.25, transport: 'native' });
const status = (workers: WorkerStatus[], rejectedTotal: number): PrimaryStatus => ({
  name: 'app',
  pid: 1,
  entry: 'app.js',
  state: 'running',
  uptimeMs: 10_000,
  policy: { name: 'round-robin', mode: 'primary' },
  listeners: [],
  target: workers.length,
  auto: null,
  workers,
  queued: 2,
  rejected: { 'queue-full': rejectedTotal },
  rejectedTotal,
  moved: 0,
  generation: 1,
  node: process.version,
});

describe('handoff top: a frame', () => {
  it('shows req/s per worker and 503/s from two status answers, a new worker without a rate', () => {
    const prev = status([worker(1, 0, 100), worker(2, 1, 50)], 4);
    const now = status([worker(1, 0, 300), worker(3, 1, 10)], 10);
    const frame = renderTop(now, prev, 2, false);
    expect(frame).toContain('app: running, 2/2 workers ready, queue 2, 503/s 3.0 (10 total)');
    expect(frame).not.toContain('q: quit');
    expect(frame).toMatch(/^0\s+1001\s+ready\s+12\.5%\s+50\.0M\s+3\s+100\.0\s+1\.3ms\s+0$/m);
    expect(frame).toMatch(/^1\s+1003\s+ready\s+12\.5%\s+50\.0M\s+3\s+-\s/m);
  });

  it('has no rates in the first frame, and says how to quit on a terminal', () => {
    const frame = renderTop(status([worker(1, 0, 100)], 0), undefined, 0, true);
    expect(frame).toContain('503/s - (0 total)   q: quit');
  });
});
