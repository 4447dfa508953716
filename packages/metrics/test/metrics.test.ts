import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { leastConnections } from '@handoff/policies';
import { createPrimary } from '@handoff/orchestrator';
import { METRIC_NAMES, serveMetrics } from '@handoff/metrics';
import { app, get, load, parse, startWithMetrics, total, value, type Family } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function started(...args: Parameters<typeof startWithMetrics>): ReturnType<typeof startWithMetrics> {
  const s = await startWithMetrics(...args);
  cleanups.push(() => s[Symbol.asyncDispose]());
  return s;
}

/**
 * Every handoff counter sample of `before` is <= the same sample (name and labels) in `after`. (The
 * app's own counters restart with its processes, as any prom-client counter does: `rate()` knows.)
 */
function expectMonotonic(before: Map<string, Family>, after: Map<string, Family>): void {
  for (const [name, family] of before) {
    if (family.type !== 'COUNTER' || !name.startsWith('handoff_')) continue;
    for (const s of family.metrics) {
      const later = value(after, name, s.labels ?? {});
      expect(later, `${name}${JSON.stringify(s.labels)} is still there`).toBeDefined();
      expect(later!, `${name}${JSON.stringify(s.labels)} never goes down`).toBeGreaterThanOrEqual(Number(s.value));
    }
  }
}

/** Resolves when `n` more workers became ready. */
function readyCount(primary: { on(e: 'worker:ready', l: () => void): unknown }, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    primary.on('worker:ready', () => {
      if (++seen === n) resolve();
    });
  });
}

describe('GET /metrics', () => {
  it('has every handoff series, parsed by a Prometheus text parser; counters never go down across scrapes and a worker crash', async () => {
    const s = await started({ workers: 3 });
    expect(await load(s.appPort, 60)).toBe(60);
    await expect.poll(async () => value(await s.scrape(), 'handoff_worker_requests_total', { slot: '0' }) ?? 0, { timeout: 5000 }).toBeGreaterThan(0);
    const first = await s.scrape();
    for (const name of METRIC_NAMES) expect(first.has(name), name).toBe(true);
    expect(value(first, 'handoff_workers', { state: 'ready' })).toBe(3);
    // Event-loop delay as the workers sample it each second: p50 and p99, in seconds.
    await expect.poll(async () => value(await s.scrape(), 'handoff_worker_event_loop_delay_p50_seconds', { slot: '0' }), { timeout: 5000 }).toBeGreaterThan(0);
    const delays = await s.scrape();
    expect(value(delays, 'handoff_worker_event_loop_delay_p99_seconds', { slot: '0' })!).toBeGreaterThanOrEqual(value(delays, 'handoff_worker_event_loop_delay_p50_seconds', { slot: '0' })!);
    expect(value(first, 'handoff_primary_state', { state: 'running' })).toBe(1);
    expect(total(first, 'handoff_connections_dispatched_total')).toBe(60);
    expect(first.get('handoff_worker_info')!.metrics).toHaveLength(3);
    // Labels are slots, never pids, on counters.
    for (const f of first.values()) if (f.type === 'COUNTER') for (const m of f.metrics) expect(Object.keys(m.labels ?? {})).not.toContain('pid');

    const replaced = readyCount(s.primary, 1);
    await get(s.appPort, '/crash', { connection: 'close' });
    await replaced;
    expect(await load(s.appPort, 60)).toBe(60);
    await expect.poll(async () => total(await s.scrape(), 'handoff_worker_requests_total'), { timeout: 5000 }).toBeGreaterThanOrEqual(120);
    const second = await s.scrape();
    expectMonotonic(first, second);
    expect(total(second, 'handoff_connections_dispatched_total')).toBe(121);
    expect((second.get('handoff_worker_restarts_total')?.metrics ?? []).filter((m) => m.labels?.reason === 'crash').reduce((n, m) => n + Number(m.value), 0)).toBe(1);
    const third = await s.scrape();
    expectMonotonic(second, third);
  });

  it('per-worker series follow a reload: new pids and generations, restarts by reason reload, counters kept', async () => {
    const s = await started();
    expect(await load(s.appPort, 20)).toBe(20);
    await expect.poll(async () => total(await s.scrape(), 'handoff_worker_requests_total'), { timeout: 5000 }).toBe(20);
    const before = await s.scrape();
    const oldPids = before.get('handoff_worker_info')!.metrics.map((m) => m.labels!.pid);
    await s.primary.reload();
    await expect.poll(async () => (await s.scrape()).get('handoff_worker_info')!.metrics.length, { timeout: 5000 }).toBe(2);
    const after = await s.scrape();
    const info = after.get('handoff_worker_info')!.metrics;
    expect(info.map((m) => m.labels!.slot).sort()).toEqual(['0', '1']);
    for (const m of info) {
      expect(oldPids).not.toContain(m.labels!.pid);
      expect(m.labels!.generation).toBe('1');
    }
    expect(value(after, 'handoff_worker_restarts_total', { slot: '0', reason: 'reload' })).toBe(1);
    expect(value(after, 'handoff_worker_restarts_total', { slot: '1', reason: 'reload' })).toBe(1);
    expect(value(after, 'handoff_reloads_total', { outcome: 'success' })).toBe(1);
    expectMonotonic(before, after);
  });

  it('counts the connections a reload moved to new workers (handoff_connections_moved_total)', async () => {
    const s = await started();
    const idle = connect(s.appPort, '127.0.0.1');
    cleanups.push(async () => void idle.destroy());
    await once(idle, 'connect');
    await expect.poll(() => s.primary.workers().some((w) => w.connections > 0), { timeout: 5000 }).toBe(true);
    expect(value(await s.scrape(), 'handoff_connections_moved_total', {})).toBe(0);
    await s.primary.reload();
    expect(value(await s.scrape(), 'handoff_connections_moved_total', {})).toBe(1);
  });

  it('counts upgrades by outcome and says the generation, as the upgrades option reads them at each scrape (by default: the first of its line, none yet)', async () => {
    const s = await started({ workers: 1 });
    const first = await s.scrape();
    expect(first.get('handoff_upgrades_total')!.type).toBe('COUNTER');
    expect(first.get('handoff_primary_generation')!.type).toBe('GAUGE');
    expect(value(first, 'handoff_primary_generation')).toBe(1);
    for (const outcome of ['success', 'failure', 'refused']) expect(value(first, 'handoff_upgrades_total', { outcome })).toBe(0);
    // What handoff upgrade hands a third primary: two upgrades went through, one failed.
    const counts = { generation: 3, success: 2, failure: 1, refused: 0 };
    const line = await serveMetrics(s.primary, { port: 0, host: '127.0.0.1', appMetrics: false, upgrades: () => counts });
    cleanups.push(() => line.close());
    const third = parse(await line.scrape());
    expect(value(third, 'handoff_primary_generation')).toBe(3);
    expect([value(third, 'handoff_upgrades_total', { outcome: 'success' }), value(third, 'handoff_upgrades_total', { outcome: 'failure' }), value(third, 'handoff_upgrades_total', { outcome: 'refused' })]).toEqual([2, 1, 0]);
    counts.refused++;
    expect(value(parse(await line.scrape()), 'handoff_upgrades_total', { outcome: 'refused' })).toBe(1);
  });

  it('histograms how long connections waited in the queue', async () => {
    const s = await started({ policy: leastConnections(), queueTimeout: 10_000 });
    // Both workers busy (their loops blocked): the next connection waits in the primary for one.
    await Promise.all([get(s.appPort, '/hang?ms=800', { connection: 'close' }), get(s.appPort, '/hang?ms=800', { connection: 'close' })]);
    // One connection goes to each blocked worker (in flight until its loop runs); the third, sent in
    // a later turn of the primary's loop, waits (least-connections offers a worker one batch at a time).
    const first = [1, 2].map(() => get(s.appPort, '/', { connection: 'close' }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    const waited = await Promise.all([...first, get(s.appPort, '/', { connection: 'close' })]);
    expect(waited.map((r) => r.status)).toEqual([200, 200, 200]);
    const m = await s.scrape();
    const h = m.get('handoff_queue_wait_seconds')!.metrics[0]!;
    expect(Number(h.count)).toBeGreaterThanOrEqual(1);
    expect(Number(h.sum)).toBeGreaterThan(0.1);
  });

  it('answers OpenMetrics when asked, and Prometheus text after it unchanged', async () => {
    const s = await started();
    const om = await get(s.metricsPort, '/metrics', { accept: 'application/openmetrics-text; version=1.0.0' });
    expect(om.status).toBe(200);
    expect(om.headers['content-type']).toMatch(/^application\/openmetrics-text/);
    expect(om.body.endsWith('# EOF\n')).toBe(true);
    expect(om.body).toContain('# TYPE handoff_worker_requests counter');
    expect(om.body).toMatch(/^handoff_worker_requests_total\{slot="0"\} /m);
    const text = await get(s.metricsPort, '/metrics');
    expect(text.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parse(text.body).has('handoff_worker_requests_total')).toBe(true);
  });
});

describe("the app's own prom-client metrics", () => {
  it.each(['expose', 'default'])('a counter incremented N times across workers reads N, merged by each aggregator (%s registry)', async (mode) => {
    const s = await started({}, {}, { HANDOFF_TEST_PROM: mode });
    expect(await load(s.appPort, 40)).toBe(40);
    const m = await s.scrape();
    expect(value(m, 'app_hits_total')).toBe(40);
    expect(m.get('app_hits_total')!.metrics).toHaveLength(1);
    expect(value(m, 'app_instance_max')).toBe(1);
    expect(m.has('app_secret_omitted')).toBe(false);
    expect(value(m, 'handoff_app_metrics_up', { slot: '0' })).toBe(1);
  });

  it('per worker with a worker label when configured', async () => {
    const s = await started({}, { appMetrics: { perWorker: true } });
    expect(await load(s.appPort, 40)).toBe(40);
    const m = await s.scrape();
    const series = m.get('app_hits_total')!.metrics;
    expect(series.map((x) => x.labels!.worker).sort()).toEqual(['0', '1']);
    expect(series.reduce((n, x) => n + Number(x.value), 0)).toBe(40);
    expect(m.get('app_secret_omitted')!.metrics).toHaveLength(2);
  });

  it('workers without prom-client: the scrape has handoff series only, every worker up', async () => {
    const s = await started({}, {}, { HANDOFF_TEST_PROM: 'none' });
    const m = await s.scrape();
    expect([...m.keys()].filter((n) => !n.startsWith('handoff_'))).toEqual([]);
    expect(value(m, 'handoff_app_metrics_up', { slot: '0' })).toBe(1);
    expect(value(m, 'handoff_app_metrics_up', { slot: '1' })).toBe(1);
  });

  it('a worker whose event loop hangs leaves the scrape answered within its timeout, and says which slot is missing', async () => {
    const s = await started({}, { appMetrics: { timeout: 300 } });
    expect(await load(s.appPort, 10)).toBe(10);
    const hangMs = 3000;
    await get(s.appPort, `/hang?ms=${hangMs}`, { connection: 'close' });
    const t0 = Date.now();
    const m = await s.scrape();
    // Answered before the hung worker could answer (the hang, not a guess of this machine's speed);
    // that it was its timeout that ended the wait is the failure counted below.
    expect(Date.now() - t0).toBeLessThan(hangMs);
    const up = m.get('handoff_app_metrics_up')!.metrics;
    expect(up.filter((x) => x.value === '0')).toHaveLength(1);
    expect(up.filter((x) => x.value === '1')).toHaveLength(1);
    expect(total(m, 'handoff_app_metrics_failures_total')).toBe(1);
    expect(m.get('handoff_app_metrics_failures_total')!.metrics[0]!.labels!.reason).toBe('timeout');
    // The merged counter holds what the answering worker counted.
    expect(value(m, 'app_hits_total')).toBeGreaterThan(0);
  });
});

describe('/healthz and /readyz', () => {
  it('/readyz turns 503 when close() starts, before the first connection is closed; /healthz stays 200', async () => {
    const s = await started({ drainTimeout: 5000 });
    expect((await get(s.metricsPort, '/readyz')).status).toBe(200);
    expect((await get(s.metricsPort, '/healthz')).status).toBe(200);
    let slowDone = false;
    const slow = get(s.appPort, '/slow?ms=1500').then((r) => {
      slowDone = true;
      return r;
    });
    await expect.poll(() => total(parseSync(s.primary.workers()), 'open'), { timeout: 3000 }).toBe(1);
    const closing = s.primary.close();
    const ready = await get(s.metricsPort, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('draining');
    expect(slowDone).toBe(false);
    expect((await get(s.metricsPort, '/healthz')).status).toBe(200);
    expect((await slow).status).toBe(200);
    await closing;
  });

  it('/readyz is 503 while fewer than minReady workers are ready', async () => {
    const s = await started({}, { minReady: 3 });
    const r = await get(s.metricsPort, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toContain('2 ready worker(s), 3 needed');
  });
});

/** Open connections of the snapshot, as one family for {@link total}. */
function parseSync(workers: readonly { connections: number }[]): Map<string, Family> {
  return new Map([['open', { name: 'open', help: '', type: 'GAUGE', metrics: workers.map((w) => ({ value: String(w.connections) })) } as Family]]);
}

/** Sends raw bytes to the metrics port and reads the status line the server answers. */
async function raw(port: number, bytes: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.end(bytes);
  let got = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => (got += c));
  await once(socket, 'close');
  return got.split('\r\n')[0] ?? '';
}

describe('the metrics port under abuse', () => {
  it('answers malformed and oversized requests 4xx and never disturbs serving', async () => {
    const s = await started();
    let stop = false;
    let served = 0;
    let failed = 0;
    const traffic = (async () => {
      while (!stop) {
        try {
          if ((await get(s.appPort, '/', { connection: 'close' })).status === 200) served++;
          else failed++;
        } catch {
          failed++;
        }
      }
    })();
    expect(await raw(s.metricsPort, 'HELLO THERE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(s.metricsPort, `GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    expect(await raw(s.metricsPort, `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    expect(await raw(s.metricsPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello')).toMatch(/^HTTP\/1\.1 413/);
    expect(await raw(s.metricsPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect((await get(s.metricsPort, '/metrics', {}, 'POST')).status).toBe(405);
    expect((await get(s.metricsPort, '/nope')).status).toBe(404);
    expect((await get(s.metricsPort, '/metrics', {}, 'HEAD')).status).toBe(200);
    stop = true;
    await traffic;
    expect(failed).toBe(0);
    expect(served).toBeGreaterThan(0);
    expect(value(await s.scrape(), 'handoff_workers', { state: 'ready' })).toBe(2);
  });
});

describe('serveMetrics() options', () => {
  it('refuses an unknown option, naming it, and a taken port with HANDOFF_ERR_PORT_IN_USE', async () => {
    const primary = createPrimary({ worker: app, workers: 1, listen: 0, handleSignals: false });
    await expect(serveMetrics({} as never, { port: 0 })).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining('createPrimary()') });
    await expect(serveMetrics(primary, { port: 0, hots: '127.0.0.1' } as never)).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining('hots') });
    await expect(serveMetrics(primary, { port: 0, appMetrics: { timeout: 0 } })).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining('appMetrics.timeout') });
    await expect(serveMetrics(primary, { port: 0, upgrades: 2 } as never)).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION', message: expect.stringContaining('upgrades') });
    const first = await serveMetrics(primary, { port: 0, host: '127.0.0.1' });
    cleanups.push(() => first.close());
    await expect(serveMetrics(primary, { port: first.address().port, host: '127.0.0.1' })).rejects.toMatchObject({ code: 'HANDOFF_ERR_PORT_IN_USE' });
    await expect(primary.workerMetrics({ timeout: 0 })).rejects.toMatchObject({ code: 'HANDOFF_ERR_INVALID_OPTION' });
  });
});
