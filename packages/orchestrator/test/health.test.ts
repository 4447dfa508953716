// The heartbeat and the recycling limits, without a process: a stand-in worker (the events and
// fields HealthMonitor reads) and fake timers.
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Requests } from '@handoff/protocol';
import { HealthMonitor, type HealthHost, type RecycleReason } from '../src/health.js';

interface Posted {
  readonly type: string;
  readonly seq?: number;
}

/** What HealthMonitor reads of a worker, and the pings it sends (through the same request helper as WorkerProcess). */
class StandIn extends EventEmitter {
  state = 'ready';
  requests = 0;
  rss = 0;
  readonly posted: Posted[] = [];
  private readonly pending = new Requests<(result: { status: string }) => void>();
  request(type: string, timeout: number): Promise<{ status: string }> {
    return new Promise((resolve) => {
      const seq = this.pending.open(resolve, { timeout, onTimeout: (settle) => settle({ status: 'timeout' }) });
      this.posted.push({ type, seq });
    });
  }
  /** Answers a ping (the last one by default) from the "event loop"; an unknown seq is dropped. */
  pong(seq = this.posted.at(-1)?.seq): void {
    this.pending.settle(seq)?.({ status: 'answered' });
  }
}

type Options = ConstructorParameters<typeof HealthMonitor>[1];
const defaults = { heartbeatInterval: 200, heartbeatTimeout: 1000, maxRequests: 0, maxRequestsJitter: 0, maxMemory: 0 };

describe('HealthMonitor', () => {
  let worker: StandIn;
  let stuck: number[];
  let recycled: RecycleReason[];
  const host: HealthHost = {
    unresponsive: (_w, ms) => stuck.push(ms),
    recycle: (_w, reason) => recycled.push(reason),
  };
  const monitor = (options: Partial<typeof defaults> = {}, random = () => 0): HealthMonitor => new HealthMonitor(worker as never, { ...defaults, ...options } as unknown as Options, host, random);

  beforeEach(() => {
    vi.useFakeTimers();
    worker = new StandIn();
    stuck = [];
    recycled = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pings each interval while answered, one ping outstanding at a time, and says nothing', async () => {
    const m = monitor();
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(200);
      worker.pong();
    }
    expect(worker.posted.length).toBe(20);
    expect(new Set(worker.posted.map((p) => p.seq)).size).toBe(20);
    expect(worker.posted.every((p) => p.type === 'ping')).toBe(true);
    expect(stuck).toEqual([]);
    m.stop();
  });

  it('calls a worker that leaves a ping unanswered for heartbeatTimeout unresponsive, once, with how long, and stops', async () => {
    monitor();
    await vi.advanceTimersByTimeAsync(200);
    expect(worker.posted).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(stuck).toHaveLength(1);
    expect(stuck[0]).toBeGreaterThanOrEqual(1000);
    // No ping while one is outstanding, none after the verdict.
    expect(worker.posted).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ignores a late pong for an older ping: only the outstanding one clears', async () => {
    monitor();
    await vi.advanceTimersByTimeAsync(200);
    worker.pong(12345);
    await vi.advanceTimersByTimeAsync(1000);
    expect(stuck).toHaveLength(1);
  });

  it('leaves a starting worker to its ready timeout, and watches it once ready', async () => {
    worker.state = 'starting';
    monitor();
    await vi.advanceTimersByTimeAsync(5000);
    expect(worker.posted).toEqual([]);
    worker.state = 'ready';
    await vi.advanceTimersByTimeAsync(200);
    expect(worker.posted).toHaveLength(1);
  });

  it('keeps watching a draining worker (a stuck drain is killed too)', async () => {
    monitor();
    worker.state = 'draining';
    await vi.advanceTimersByTimeAsync(1400);
    expect(stuck).toHaveLength(1);
  });

  it('runs no timer with heartbeatTimeout 0, and stops on the worker\'s exit', () => {
    monitor({ heartbeatTimeout: 0 });
    expect(vi.getTimerCount()).toBe(0);
    monitor();
    expect(vi.getTimerCount()).toBe(1);
    worker.emit('exit');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('recycles once at maxRequests plus its jitter, checked on each load report', async () => {
    // random() 0.5 with jitter 10: the limit is 100 + floor(0.5 x 11) = 105.
    monitor({ heartbeatTimeout: 0, maxRequests: 100, maxRequestsJitter: 10 }, () => 0.5);
    worker.requests = 104;
    worker.emit('load');
    expect(recycled).toEqual([]);
    worker.requests = 105;
    worker.emit('load');
    worker.requests = 300;
    worker.emit('load');
    expect(recycled).toEqual(['max-requests']);
  });

  it('recycles past maxMemory, and never a worker that is not ready', async () => {
    monitor({ heartbeatTimeout: 0, maxMemory: 1000 });
    worker.state = 'draining';
    worker.rss = 5000;
    worker.emit('load');
    expect(recycled).toEqual([]);
    worker.state = 'ready';
    worker.rss = 1000;
    worker.emit('load');
    expect(recycled).toEqual([]);
    worker.rss = 1001;
    worker.emit('load');
    expect(recycled).toEqual(['max-memory']);
  });

  it('with no limits, never recycles', async () => {
    monitor({ heartbeatTimeout: 0 });
    worker.requests = 1e9;
    worker.rss = 1e12;
    worker.emit('load');
    expect(recycled).toEqual([]);
  });
});
