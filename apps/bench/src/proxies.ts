import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The proxies the bench puts in front of N single Node processes: what ops teams build instead. */
export type ProxyKind = 'haproxy' | 'nginx';

/**
 * How the proxy carries a connection: `http` terminates the client's HTTP and sends each request
 * over a pool of keep-alive connections to the backends (how both are configured for HTTP apps);
 * `tcp` passes each client connection through to one backend as bytes (HAProxy `mode tcp`, nginx
 * `stream`).
 */
export type ProxyMode = 'http' | 'tcp';

/** Where the binaries are looked for, after `BENCH_HAPROXY` / `BENCH_NGINX` and `PATH`. */
const SBIN = ['/usr/sbin', '/usr/local/sbin', '/sbin'];
const ENV: Readonly<Record<ProxyKind, string>> = { haproxy: 'BENCH_HAPROXY', nginx: 'BENCH_NGINX' };

/** A proxy binary found here, with the version it prints; or why none was. */
export type ProxyProbe = { readonly available: true; readonly path: string; readonly version: string } | { readonly available: false; readonly reason: string };

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Finds `kind`'s binary (`BENCH_HAPROXY` / `BENCH_NGINX` first, then `PATH`, then the sbin folders) and asks its version. */
export function findProxy(kind: ProxyKind): ProxyProbe {
  const override = process.env[ENV[kind]];
  const candidates = override !== undefined && override !== '' ? [override] : [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...SBIN].map((d) => join(d, kind));
  const path = candidates.find(executable);
  if (path === undefined) return { available: false, reason: `${kind} not found (${override !== undefined && override !== '' ? `${ENV[kind]}=${override}` : `looked in PATH and ${SBIN.join(', ')}; set ${ENV[kind]}`})` };
  // HAProxy prints its version on stdout, nginx on stderr.
  const out = spawnSync(path, ['-v'], { encoding: 'utf8' });
  const text = `${out.stdout ?? ''}${out.stderr ?? ''}`;
  const version = (kind === 'haproxy' ? /HAProxy version (\S+)/ : /nginx\/(\S+)/).exec(text)?.[1];
  if (out.status !== 0 || version === undefined) return { available: false, reason: `${path} -v failed (exit ${out.status})` };
  return { available: true, path, version };
}

/** nginx's folder of dynamic modules (for `stream`, which Debian builds as one), from `nginx -V`. */
export function nginxModulesPath(binary: string): string | undefined {
  const out = spawnSync(binary, ['-V'], { encoding: 'utf8' });
  return /--modules-path=(\S+)/.exec(`${out.stdout ?? ''}${out.stderr ?? ''}`)?.[1];
}

/** What a proxy's configuration is made from. */
export interface ProxyConfig {
  readonly mode: ProxyMode;
  /** The port the clients connect to, on 127.0.0.1. */
  readonly port: number;
  /** The backends' ports, on 127.0.0.1: one single Node process each. */
  readonly backends: readonly number[];
  /** A folder of the proxy's own (its pid file, temp files, HAProxy's admin socket). */
  readonly dir: string;
}

/**
 * Connections nginx is sized for: the idle workload's 5,000 idle ones and the active ones, each
 * with a backend connection in `tcp` mode. HAProxy sizes itself: with no global `maxconn` it takes
 * what the file descriptor limit allows (about half of `ulimit -n`; it cannot raise the hard limit).
 */
const MAX_CONNECTIONS = 12_000;

/** HAProxy's admin socket in `dir` (`set server app/sN state maint|ready` at a rolling restart). */
export const haproxySocket = (dir: string): string => join(dir, 'admin.sock');

/**
 * An HAProxy configuration: `balance leastconn` over the backends, as `haproxy -f` reads it.
 * Threads: HAProxy's default, one per CPU it may run on (so one when pinned). `http`: the server
 * connections are pooled and `http-reuse always` lets a client's first request use one, as nginx's
 * `keepalive` does (the default, `safe`, opens a server connection for each client connection's first
 * request, which under churn is every request). `option redispatch` and `retries 3`: a request whose
 * backend refuses the connection (restarting, killed) goes to another; `check`: a health check every 2 s.
 */
export function haproxyConfig(c: ProxyConfig): string {
  const http = c.mode === 'http';
  return [
    'global',
    `  stats socket ${haproxySocket(c.dir)} mode 600 level admin`,
    // Past 20 % of its descriptors in use (the default), HAProxy stops pooling server connections,
    // past 25 % it closes idle ones: the idle workload's 5,000 connections are 25 % of a 20,000
    // descriptor limit, and every request then opened a connection to its backend. A production box
    // has a limit far above its connections; these let the pool live to 60 % and 70 % instead.
    '  tune.pool-low-fd-ratio 60',
    '  tune.pool-high-fd-ratio 70',
    'defaults',
    `  mode ${c.mode}`,
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  option redispatch',
    '  retries 3',
    ...(http ? ['  http-reuse always'] : []),
    'frontend fe',
    `  bind 127.0.0.1:${c.port}`,
    '  default_backend app',
    'backend app',
    '  balance leastconn',
    ...c.backends.map((p, i) => `  server s${i + 1} 127.0.0.1:${p} check`),
    '',
  ].join('\n');
}

/**
 * An nginx configuration: an `upstream` (round-robin, nginx's default) over the backends, in the
 * foreground (`daemon off`), `worker_processes auto`, no access log (the Node servers log nothing
 * either). `http`: HTTP/1.1 to the upstreams with a pool of idle keep-alive connections (`keepalive
 * 64`, `proxy_set_header Connection ""`: nginx's documented way), closed after 4 s idle, before
 * Node's own 5 s keepAliveTimeout can close one nginx is about to reuse; `keepalive_requests` raised
 * on both sides from nginx's 1,000, which a Node server does not have. A failed connection to an
 * upstream is tried on the next (`proxy_next_upstream error timeout`, the default), and with
 * `max_fails=0` the upstream stays in rotation (below). `tcp`: the `stream`
 * module (`modules`: where its `.so` is, when it is a dynamic module).
 */
export function nginxConfig(c: ProxyConfig, modules?: string): string {
  // max_fails=0: a refused connection (a backend restarting) is tried on the next upstream and the
  // backend is not set aside. With the default (1 failure: out for 10 s), a rolling restart set the
  // first backend aside, then the second went down within the 10 s and nginx answered 502 "no live
  // upstreams" to everything until the first came back.
  const upstreams = c.backends.map((p) => `    server 127.0.0.1:${p} max_fails=0;`);
  const head = [
    ...(c.mode === 'tcp' && modules !== undefined ? [`load_module ${join(modules, 'ngx_stream_module.so')};`] : []),
    'daemon off;',
    'master_process on;',
    'worker_processes auto;',
    `worker_rlimit_nofile ${2 * MAX_CONNECTIONS + 1000};`,
    `pid ${join(c.dir, 'nginx.pid')};`,
    'error_log stderr error;',
    `events { worker_connections ${2 * MAX_CONNECTIONS}; }`,
  ];
  if (c.mode === 'tcp') {
    return [...head, 'stream {', '  upstream app {', ...upstreams, '  }', '  server {', `    listen 127.0.0.1:${c.port};`, '    proxy_pass app;', '  }', '}', ''].join('\n');
  }
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(c.dir, t)};`);
  return [
    ...head,
    'http {',
    '  access_log off;',
    '  keepalive_requests 1000000;',
    ...temp,
    '  upstream app {',
    ...upstreams,
    '    keepalive 64;',
    '    keepalive_requests 1000000;',
    '    keepalive_timeout 4s;',
    '  }',
    '  server {',
    `    listen 127.0.0.1:${c.port};`,
    '    location / {',
    '      proxy_pass http://app;',
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The command line that runs `kind` in the foreground on the configuration file `file`. */
export function proxyCommand(kind: ProxyKind, binary: string, file: string, dir: string): { command: string; args: string[] } {
  // -db: HAProxy in the foreground, not forked into the background. nginx: -p its prefix (relative
  // paths), -e its startup error log, before the configuration's own is read.
  return kind === 'haproxy' ? { command: binary, args: ['-db', '-f', file] } : { command: binary, args: ['-p', dir, '-e', 'stderr', '-c', file] };
}
