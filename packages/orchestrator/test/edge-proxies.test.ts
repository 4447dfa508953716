/**
 * handoff behind real HAProxy and nginx, started here on loopback with the configs of docs/deploy/
 * (the same files the docs point at). Clients connect from 127.0.0.2 and 127.0.0.3 (both loopback
 * on Linux); the proxies reach handoff from 127.0.0.1, the only trusted address.
 *
 * Without haproxy or nginx on PATH these tests are skipped, unless HANDOFF_REQUIRE_DEPLOY_TOOLS=1
 * (CI installs both and sets it): then a missing one fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ipHash, roundRobin, sharedHandle, type Policy } from '@handoff/policies';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { freePort, killAll, runLoad, startLoadProcess, startTestPrimary, waitFor, type LoadProcess, type TestPrimary } from '../../../tools/testing/src/index.js';
import { proxyApp } from './helpers.js';

const deploy = fileURLToPath(new URL('../../../docs/deploy/', import.meta.url));
const required = process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';
const has = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
const haproxy = has('haproxy', ['-v']);
const nginx = has('nginx', ['-v']);
/** Debian builds the stream module as a dynamic module (package libnginx-mod-stream). */
const streamModule = ['/usr/lib/nginx/modules/ngx_stream_module.so', '/usr/share/nginx/modules/ngx_stream_module.so'].find((p) => existsSync(p));
const CLIENTS = ['127.0.0.2', '127.0.0.3'] as const;
const hex = (address: string): string => address.split('.').map((n) => Number(n).toString(16).toUpperCase().padStart(2, '0')).join('');

interface Proxy {
  readonly name: string;
  readonly available: boolean;
  /** Starts the proxy in front of `handoffPort`; resolves with the port clients connect to. */
  start(handoffPort: number): Promise<number>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
let current: TestPrimary | undefined;
let load: LoadProcess | undefined;
afterEach(async () => {
  if (load !== undefined) killAll([load.pid]);
  load = undefined;
  for (const child of children.splice(0)) await stop(child);
  await current?.[Symbol.asyncDispose]();
  current = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** SIGTERM by pid, then SIGKILL if it has not exited within 3 s. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Runs a proxy in the foreground, recorded for cleanup; fails the test if it exits early. */
function run(command: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.once('exit', (code, signal) => {
    if (children.includes(child)) stderr += `\n(${command} exited early: ${code ?? signal})`;
  });
  (child as ChildProcess & { stderrText: () => string }).stderrText = () => stderr;
  return child;
}

/**
 * Waits until a request through the proxy on `port` reaches the app: a real request, so that no
 * half-open probe reaches handoff (it would count as a refusal).
 */
async function listening(port: number, child: ChildProcess): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error((child as ChildProcess & { stderrText: () => string }).stderrText());
      return requestFrom('127.0.0.1', port).then(
        () => true,
        () => false,
      );
    },
    10_000,
    50,
    `the proxy on port ${port}`,
  );
}

function haproxyFor(version: 1 | 2): Proxy {
  return {
    name: `HAProxy send-proxy${version === 2 ? '-v2' : ''}`,
    available: haproxy,
    async start(handoffPort) {
      const [v1, v2] = [await freePort(), await freePort()];
      const child = run('haproxy', ['-f', join(deploy, 'haproxy.cfg'), '-db'], {
        HAPROXY_V1_BIND: `127.0.0.1:${v1}`,
        HAPROXY_V2_BIND: `127.0.0.1:${v2}`,
        HANDOFF_ADDR: `127.0.0.1:${handoffPort}`,
      });
      const port = version === 1 ? v1 : v2;
      await listening(port, child);
      return port;
    },
  };
}

/**
 * Runs nginx with one of the docs' files, rendered as envsubst would, under a main context of the
 * test's own: one foreground process, its pid, logs and temporary files in a temporary directory.
 * Resolves with the port clients connect to.
 */
async function startNginx(file: string, handoffPort: number, tune: (conf: string) => string = (conf) => conf): Promise<number> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'handoff-nginx-'));
  dirs.push(dir);
  const vars: Record<string, string> = { NGINX_LISTEN: `127.0.0.1:${port}`, HANDOFF_ADDR: `127.0.0.1:${handoffPort}`, NGINX_TEMP: dir };
  const body = tune(readFileSync(join(deploy, file), 'utf8').replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => vars[name] ?? whole));
  const main = [streamModule === undefined ? '' : `load_module ${streamModule};`, 'daemon off;', 'master_process off;', `pid ${join(dir, 'nginx.pid')};`, 'error_log stderr warn;'];
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `${main.join('\n')}\n${body}`);
  const child = run('nginx', ['-c', conf, '-p', dir, '-e', 'stderr']);
  await listening(port, child);
  return port;
}

const nginxStream: Proxy = {
  name: 'nginx stream proxy_protocol on',
  available: nginx,
  start: (handoffPort) => startNginx('nginx-stream.conf', handoffPort),
};

interface Answer {
  readonly pid: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly proxy: { remoteAddress: string; version: number; uniqueId: string | null } | null;
}

/** One HTTP request on its own connection from `localAddress`, through the proxy. */
function requestFrom(localAddress: string, port: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error('request timed out')));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString();
      const json = text.slice(text.indexOf('\r\n\r\n') + 4);
      try {
        resolve(JSON.parse(json) as Answer);
      } catch {
        reject(new Error(`not an answer of the app: ${JSON.stringify(text.slice(0, 200))}`));
      }
    });
    // Not end(): Node's http.Server aborts a request whose client half-closes before the answer
    // (httpAllowHalfOpen false), with or without a proxy in between.
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

async function startBehind(proxy: Proxy, policy: Policy, workers: number): Promise<number> {
  current = await startTestPrimary({ worker: proxyApp, workers, policy, listen: { port: 0, host: '127.0.0.1', proxyProtocol: { trusted: ['127.0.0.1/32'] } } });
  return proxy.start(current.port);
}

const proxies = [haproxyFor(1), haproxyFor(2), nginxStream];

describe.each(proxies)('behind $name', (proxy) => {
  const run = proxy.available || required ? it : it.skip;

  run('mode primary, ipHash: each client reaches the app as itself and sticks to one worker for 50 connections', async () => {
    if (!proxy.available) throw new Error(`${proxy.name}: not installed (HANDOFF_REQUIRE_DEPLOY_TOOLS=1)`);
    const port = await startBehind(proxy, ipHash(), 3);
    for (const client of CLIENTS) {
      const pids = new Set<number>();
      for (let i = 0; i < 50; i++) {
        const answer = await requestFrom(client, port);
        expect(answer.remoteAddress).toBe(client);
        expect(answer.proxy?.remoteAddress).toBe('127.0.0.1');
        // haproxy.cfg's unique-id-format starts with the client's address in hex.
        if (proxy.name.endsWith('-v2')) expect(answer.proxy?.uniqueId?.startsWith(hex(client))).toBe(true);
        pids.add(answer.pid);
      }
      expect(pids.size, `${client} was served by ${[...pids].join(', ')}`).toBe(1);
    }
    expect(current!.primary.stats().proxyRefused).toEqual({});
  });

  run('mode shared: the workers read the header, and the app sees each client', async () => {
    if (!proxy.available) throw new Error(`${proxy.name}: not installed (HANDOFF_REQUIRE_DEPLOY_TOOLS=1)`);
    const port = await startBehind(proxy, sharedHandle(), 2);
    for (const client of CLIENTS) {
      for (let i = 0; i < 5; i++) expect((await requestFrom(client, port)).remoteAddress).toBe(client);
    }
  });
});

describe('behind nginx as an HTTP reverse proxy with keep-alive upstreams', () => {
  const test = nginx || required ? it : it.skip;

  test('a rolling reload of handoff fails no request, and upstream connections are reused', async () => {
    if (!nginx) throw new Error('nginx: not installed (HANDOFF_REQUIRE_DEPLOY_TOOLS=1)');
    current = await startTestPrimary({ worker: proxyApp, workers: 2, policy: roundRobin() });
    const port = await startNginx('nginx-http.conf', current.port);
    // Keep-alive upstream: requests of new client connections ride few upstream connections.
    const upstreamPorts = new Set<number>();
    for (let i = 0; i < 20; i++) upstreamPorts.add((await requestFrom('127.0.0.2', port)).remotePort);
    expect(upstreamPorts.size).toBeLessThan(5);
    const controller = new AbortController();
    const load = Promise.all([
      runLoad({ port, concurrency: 6, keepAlive: true, signal: controller.signal }),
      runLoad({ port, concurrency: 2, keepAlive: false, signal: controller.signal }),
    ]);
    await new Promise((r) => setTimeout(r, 200));
    await current.primary.reload();
    await current.primary.reload();
    await new Promise((r) => setTimeout(r, 200));
    controller.abort();
    const results = await load;
    for (const result of results) {
      expect(result.failed + result.non2xx, result.errors.join('\n')).toBe(0);
      expect(result.ok).toBeGreaterThan(20);
    }
  });
  test('POSTs through nginx during 20 reloads: every answer 200, no "upstream prematurely closed", and no new upstream connection (they move)', async () => {
    if (!nginx) throw new Error('nginx: not installed (HANDOFF_REQUIRE_DEPLOY_TOOLS=1)');
    current = await startTestPrimary({ worker: proxyApp, workers: 2, policy: roundRobin() });
    // nginx itself closes a keep-alive connection after 1000 requests (keepalive_requests, on both
    // sides): raised here, so that every new upstream connection counted below is one handoff caused.
    const nginxPort = await startNginx('nginx-http.conf', current.port, (conf) => conf.replace('keepalive 32;', 'keepalive 32;\n        keepalive_requests 1000000;').replace(/(listen [^;]+;)/, '$1\n        keepalive_requests 1000000;'));
    const proxy = children.at(-1) as ChildProcess & { stderrText: () => string };
    // Connections the primary accepted (a moved one is placed again, and counted as moved).
    let dispatched = 0;
    let moved = 0;
    const onDispatch = (): number => dispatched++;
    const onMoved = (): number => moved++;
    subscribe('handoff:connection:dispatch', onDispatch);
    subscribe('handoff:connection:moved', onMoved);
    try {
      load = startLoadProcess({ port: nginxPort, keepAlive: 4, method: 'POST' });
      // nginx's pool of upstream connections fills while the load runs, then stays.
      await new Promise((r) => setTimeout(r, 1000));
      const acceptedBefore = dispatched - moved;
      for (let i = 0; i < 20; i++) await current.primary.reload();
      const seen = await load.stop();
      load = undefined;
      expect({ failed: seen.failed, non2xx: seen.non2xx, errors: seen.errors }).toEqual({ failed: 0, non2xx: 0, errors: {} });
      expect(seen.ok).toBeGreaterThan(200);
      expect(proxy.stderrText()).not.toMatch(/upstream prematurely closed/);
      expect(moved).toBeGreaterThanOrEqual(20);
      expect(dispatched - moved - acceptedBefore).toBe(0);
    } finally {
      unsubscribe('handoff:connection:dispatch', onDispatch);
      unsubscribe('handoff:connection:moved', onMoved);
    }
  });
});
