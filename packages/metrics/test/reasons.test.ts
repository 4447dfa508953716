// Every reason the primary answers a connection itself for is a label of
// handoff_connections_rejected_total, read from the orchestrator's one list (REJECT_REASONS): a
// reason added there and not counted here fails this file. Likewise the states of the primary and
// of its live workers.
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PRIMARY_STATES, REJECT_REASONS, WORKER_STATES } from '@handoff/orchestrator';
import { leastConnections } from '@handoff/policies';
import { get, startWithMetrics, value } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One raw request on its own connection: `status N`, or how it ended. */
function request(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    socket.on('data', (c) => (data += c.toString()));
    socket.on('close', () => resolve(data.startsWith('HTTP/1.1 ') ? `status ${data.slice(9, 12)}` : 'closed'));
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('/metrics counts every reject reason and state the orchestrator lists', () => {
  it('has a handoff_connections_rejected_total sample for each of REJECT_REASONS and no other, each equal to stats().rejected', async () => {
    const s = await startWithMetrics({ workers: 1 });
    cleanups.push(() => s[Symbol.asyncDispose]());
    expect(REJECT_REASONS).toContain('descriptors');
    const m = await s.scrape();
    const labels = (m.get('handoff_connections_rejected_total')?.metrics ?? []).map((x) => x.labels?.reason);
    expect([...labels].sort()).toEqual([...REJECT_REASONS].sort());
    const stats = s.primary.stats();
    for (const reason of REJECT_REASONS) expect(value(m, 'handoff_connections_rejected_total', { reason }), reason).toBe(stats.rejected[reason]);
    // The states too: one handoff_primary_state series per primary state, one handoff_workers
    // series per state a live worker can be in (an exited one is no longer listed).
    expect((m.get('handoff_primary_state')?.metrics ?? []).map((x) => x.labels?.state)).toEqual([...PRIMARY_STATES]);
    expect((m.get('handoff_workers')?.metrics ?? []).map((x) => x.labels?.state)).toEqual(WORKER_STATES.filter((w) => w !== 'exited'));
  });

  it('counts a rejection it provoked (the wait queue full while the only worker is blocked) under its reason', async () => {
    const s = await startWithMetrics({ workers: 1, policy: leastConnections(), maxPending: 1, queueTimeout: 10_000 });
    cleanups.push(() => s[Symbol.asyncDispose]());
    // The worker answers, then blocks its event loop: it takes no connection for 1.5 s. With one
    // connection in flight to it (leastConnections waits for it to take it: sent alone, not in one
    // batch with the others) and one waiting, the rest find the queue full.
    const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    expect((await get(s.appPort, '/hang?ms=1500')).status).toBe(200);
    await pause(100);
    const first = request(s.appPort);
    await pause(100);
    const results = await Promise.all([first, ...Array.from({ length: 4 }, () => request(s.appPort))]);
    expect(results.filter((r) => r === 'status 503').length).toBeGreaterThanOrEqual(1);
    const m = await s.scrape();
    const full = value(m, 'handoff_connections_rejected_total', { reason: 'queue-full' });
    expect(full).toBeGreaterThanOrEqual(1);
    expect(full).toBe(s.primary.stats().rejected['queue-full']);
  });
});
