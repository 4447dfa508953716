import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
// Built first, as in smoke.test.ts: the servers, their proxies and the load generator are processes started from dist/.
import { runCell } from '../dist/cell.js';
import { processState } from '../dist/proc.js';
import { findProxy, haproxyConfig, nginxConfig } from '../dist/proxies.js';
import { markdown, summarize } from '../dist/report.js';
import { allServers, selectServers } from '../dist/servers.js';
import { WORKLOADS } from '../dist/workloads.js';

const haproxy = findProxy('haproxy');
const nginx = findProxy('nginx');
const server = (name: string) => allServers(['ipc']).find((s) => s.name === name)!;
const workload = (name: string) => WORKLOADS.find((w) => w.name === name)!;
const tiny = { seconds: 0.5, warmupSeconds: 0.2, node: process.execPath, pin: false, loader: 'autocannon' as const };
const config = { port: 8080, backends: [3001, 3002], dir: '/tmp/x' };
/** The proxies' temp folders: each is removed when its proxy stops. */
const proxyDirs = (): string[] => readdirSync(tmpdir()).filter((f) => /^bench-(haproxy|nginx)-/.test(f));

describe('the proxy anchors: HAProxy and nginx in front of N single Node processes', () => {
  const saved = process.env.BENCH_HAPROXY;
  afterEach(() => {
    if (saved === undefined) delete process.env.BENCH_HAPROXY;
    else process.env.BENCH_HAPROXY = saved;
  });

  it('are anchors in the default set; their +tcp variants run only when named', () => {
    const names = selectServers(undefined, ['ipc']).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['haproxy-leastconn', 'nginx-rr']));
    expect(names).not.toContain('haproxy-leastconn+tcp');
    expect(selectServers(['nginx-rr+tcp'], ['ipc']).map((s) => s.name)).toEqual(['nginx-rr+tcp']);
    expect(server('haproxy-leastconn')).toMatchObject({ kind: 'haproxy', proxyMode: 'http', anchor: true });
  });

  it('HAProxy: leastconn over every backend, pooled server connections in http mode, bytes in tcp mode', () => {
    const http = haproxyConfig({ ...config, mode: 'http' });
    expect(http).toContain('balance leastconn');
    expect(http).toContain('bind 127.0.0.1:8080');
    expect(http).toMatch(/server s1 127\.0\.0\.1:3001 check\n\s+server s2 127\.0\.0\.1:3002 check/);
    expect(http).toContain('mode http');
    expect(http).toContain('http-reuse always');
    expect(http).toContain('stats socket /tmp/x/admin.sock');
    const tcp = haproxyConfig({ ...config, mode: 'tcp' });
    expect(tcp).toContain('mode tcp');
    expect(tcp).not.toContain('http-reuse');
  });

  it('nginx: a round-robin upstream with a keep-alive pool in http mode, the stream module in tcp mode', () => {
    const http = nginxConfig({ ...config, mode: 'http' });
    expect(http).toContain('server 127.0.0.1:3001 max_fails=0;');
    expect(http).toContain('keepalive 64;');
    expect(http).toContain('proxy_http_version 1.1;');
    expect(http).toContain('proxy_set_header Connection "";');
    expect(http).toContain('daemon off;');
    expect(http).not.toContain('stream {');
    const tcp = nginxConfig({ ...config, mode: 'tcp' }, '/usr/lib/nginx/modules');
    expect(tcp).toContain('load_module /usr/lib/nginx/modules/ngx_stream_module.so;');
    expect(tcp).toContain('stream {');
    expect(tcp).not.toContain('proxy_http_version');
  });

  it('a proxy that is not installed is said so, with where it was looked for', () => {
    process.env.BENCH_HAPROXY = '/nonexistent/haproxy';
    expect(findProxy('haproxy')).toEqual({ available: false, reason: expect.stringContaining('BENCH_HAPROXY=/nonexistent/haproxy') });
  });

  it.skipIf(!haproxy.available)('haproxy-leastconn under churn: both backends answer, the proxy is the primary column, its folder gone after', async () => {
    const before = proxyDirs();
    const cell = await runCell(server('haproxy-leastconn'), workload('churn'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'haproxy-leastconn', workers: 2, errors: 0 });
    expect(cell.requests).toBeGreaterThan(0);
    expect(cell.requestShares).toHaveLength(2);
    expect(cell.requestShares[1]).toBeGreaterThan(0);
    // The proxy's memory, not the runner's (a Node process above it): HAProxy is well under 40 MB.
    expect(cell.primaryRss).toBeGreaterThan(0);
    expect(cell.primaryRss).toBeLessThan(40 * 2 ** 20);
    for (const key of ['primaryCpuPerRequest', 'workersCpuPerRequest'] as const) expect(Number.isFinite(cell[key])).toBe(true);
    const table = markdown(summarize([cell], new Set(['haproxy-leastconn'])), [{ name: 'churn', description: 'tiny', pinned: false }]);
    expect(table).toContain('| haproxy-leastconn |');
    expect(proxyDirs().filter((d) => !before.includes(d))).toEqual([]);
  });

  it.skipIf(!nginx.available)('nginx-rr under keep-alive, and a crash: the victim is a backend, stopped then killed', async () => {
    const cell = await runCell(server('nginx-rr'), workload('keep-alive'), 1, 2, tiny);
    expect(cell).toMatchObject({ server: 'nginx-rr', errors: 0 });
    expect(cell.requestShares[1]).toBeGreaterThan(0);
    const crash = await runCell(server('nginx-rr'), workload('crash'), 1, 2, { ...tiny, seconds: 1 });
    expect(crash.crash).toMatchObject({ killedBy: 'bench' });
    expect(processState(crash.crash!.victim)).toBeUndefined();
    expect(crash.requests).toBeGreaterThan(0);
  });
});
