import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { POLICIES, policyMode } from './policies.js';
import { processTree } from './proc.js';
import { findProxy, type ProxyKind, type ProxyMode, type ProxyProbe } from './proxies.js';
import { TRANSPORTS, type Transport } from './transports.js';

/** A server under test. */
export interface ServerSpec {
  /**
   * Name in the report: `single`, `cluster-rr`, `cluster-none`, `reuseport`, `haproxy-leastconn`,
   * `nginx-rr` (and their `+tcp`), `handoff:<policy>` for a kernel-mode policy,
   * `handoff:<policy>@<transport>` for a `primary`-mode one.
   */
  readonly name: string;
  readonly kind: 'single' | 'cluster-rr' | 'cluster-none' | 'reuseport' | 'handoff' | ProxyKind;
  readonly policy?: string;
  /** A `primary`-mode policy's transport, passed to `createPrimary` explicitly (the default does not decide). */
  readonly transport?: Transport;
  /** `handoff:<policy>+metrics`: with `@handoff/metrics` serving its `/metrics` beside (what it costs). */
  readonly metrics?: boolean;
  /** `handoff:<policy>+no-move`: `moveOnDrain: false`, a drain closes what it would move (what moves buy). */
  readonly noMove?: boolean;
  /** `haproxy` / `nginx`: HTTP with pooled keep-alive connections to the backends, or (`+tcp`) bytes passed through. */
  readonly proxyMode?: ProxyMode;
  /** The references handoff is compared with. */
  readonly anchor: boolean;
}

/** Report order of the policies the bench knows of; any other (new) policy comes after them. */
const ORDER = ['round-robin', 'least-connections', 'power-of-two-choices', 'weighted', 'random', 'ip-hash', 'shared', 'balanced-shared', 'reuseport'];
const rank = (policy: string): number => (ORDER.includes(policy) ? ORDER.indexOf(policy) : ORDER.length);

/** A handoff server of `policy` (with a variant): one per transport in mode `primary`, one alone in the kernel modes. */
function handoff(policy: string, variant: '' | 'metrics' | 'no-move', transports: readonly Transport[]): ServerSpec[] {
  const base = `handoff:${policy}${variant === '' ? '' : `+${variant}`}`;
  const extra = variant === 'metrics' ? { metrics: true } : variant === 'no-move' ? { noMove: true } : {};
  if (policyMode(policy) !== 'primary') return [{ name: base, kind: 'handoff', policy, ...extra, anchor: false }];
  return transports.map((transport): ServerSpec => ({ name: `${base}@${transport}`, kind: 'handoff', policy, transport, ...extra, anchor: false }));
}

/**
 * Every server the bench knows, anchors first; each `primary`-mode policy once per transport of
 * `transports` (default: both), rows of one policy side by side.
 */
export function allServers(transports: readonly Transport[] = TRANSPORTS): ServerSpec[] {
  return [
    { name: 'single', kind: 'single', anchor: true },
    { name: 'cluster-rr', kind: 'cluster-rr', anchor: true },
    { name: 'cluster-none', kind: 'cluster-none', anchor: true },
    { name: 'reuseport', kind: 'reuseport', anchor: true },
    // What ops teams build instead: a proxy in front of N single Node processes on N ports.
    { name: 'haproxy-leastconn', kind: 'haproxy', proxyMode: 'http', anchor: true },
    { name: 'nginx-rr', kind: 'nginx', proxyMode: 'http', anchor: true },
    ...Object.keys(POLICIES)
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
      .flatMap((policy) => handoff(policy, '', transports)),
    // The cost of metrics, measured against the same policy without them (only when asked for by name).
    ...['round-robin', 'shared'].flatMap((policy) => handoff(policy, 'metrics', transports)),
    // What moves buy at a reload: the same with moveOnDrain: false (only when named, or by the reload workload).
    ...['round-robin', 'shared'].flatMap((policy) => handoff(policy, 'no-move', transports)),
    // The proxies passing connections through as bytes (only when named): what HTTP mode's pool buys.
    { name: 'haproxy-leastconn+tcp', kind: 'haproxy', proxyMode: 'tcp', anchor: true },
    { name: 'nginx-rr+tcp', kind: 'nginx', proxyMode: 'tcp', anchor: true },
  ];
}

/**
 * The servers `--servers` names, in report order, each `primary`-mode policy on every transport of
 * `transports` unless the name says one (`handoff:round-robin@ipc`); undefined: every server but the
 * `+metrics` and `+no-move` ones. Throws naming a server it does not know.
 */
export function selectServers(wanted: readonly string[] | undefined, transports: readonly Transport[]): ServerSpec[] {
  const every = allServers(TRANSPORTS);
  const known = (name: string): boolean => every.some((s) => s.name === name || s.name.replace(/@[a-z]+$/, '') === name);
  const unknown = wanted?.find((n) => !known(n));
  if (unknown !== undefined) throw new Error(`unknown server ${unknown}`);
  return every.filter((s) => {
    const bare = s.name.replace(/@[a-z]+$/, '');
    if (wanted === undefined) return s.metrics !== true && s.noMove !== true && s.proxyMode !== 'tcp' && (s.transport === undefined || transports.includes(s.transport));
    return wanted.includes(s.name) || (wanted.includes(bare) && s.transport !== undefined && transports.includes(s.transport)) || (wanted.includes(bare) && s.transport === undefined);
  });
}

/** True when the Node binary `node` has `reusePort` (22.12+ / 23.1+) on Linux. */
export function supportsReusePort(node: string): boolean {
  const out = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const [major = 0, minor = 0] = out.split('.').map(Number);
  return process.platform === 'linux' && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
}

const proxies = new Map<ProxyKind, ProxyProbe>();

/** Whether `kind` is installed here, asked once. */
export function probeProxy(kind: ProxyKind): ProxyProbe {
  let probe = proxies.get(kind);
  if (probe === undefined) proxies.set(kind, (probe = findProxy(kind)));
  return probe;
}

/** Whether the proxy a server runs is installed here; undefined for a server without one. */
export function proxyOf(spec: ServerSpec): ProxyProbe | undefined {
  return spec.kind === 'haproxy' || spec.kind === 'nginx' ? probeProxy(spec.kind) : undefined;
}

/** True when `taskset` can pin processes to cores here (Linux, 2 cores or more). */
export function canPin(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** A started server: its port, its top process, and how to stop it. */
export interface RunningServer {
  readonly port: number;
  readonly pid: number;
  /** The transport a handoff primary said it chose (`none` in the kernel modes); undefined for the others. */
  readonly transport: string | undefined;
  /**
   * A proxy's backends now, by pid: the port each listens on (its workers, the rest of its process
   * tree being the proxy); undefined for the other servers.
   */
  backends(): ReadonlyMap<number, number> | undefined;
  /** Connections a handoff primary gave back from the worker of pid `from` and placed again, so far, by reason. */
  redispatched(from: number): Readonly<Record<string, number>>;
  /**
   * Rolling reloads finished so far (asked for with SIGHUP), the connections a handoff primary moved
   * (undefined for the others), and the milliseconds the reloads took, together.
   */
  reloads(): { readonly done: number; readonly moved: number | undefined; readonly ms: number };
  stop(): Promise<void>;
}

const RUNNER = fileURLToPath(new URL('./runner.js', import.meta.url));

/** Starts `spec` with `workers` processes on the Node binary `node`, pinned to `cpu` when given. */
export function startServer(spec: ServerSpec, workers: number, node: string, cpu: number | undefined, execArgv: readonly string[] = []): Promise<RunningServer> {
  // Worker processes inherit the runner's Node flags (cluster, fork and handoff all default to process.execArgv).
  const args = [...execArgv, RUNNER, spec.kind, String(workers), spec.policy ?? '', spec.metrics === true ? 'metrics' : spec.noMove === true ? 'no-move' : spec.proxyMode === 'tcp' ? 'tcp' : '', spec.transport ?? 'ipc'];
  const proxy = proxyOf(spec);
  if (proxy !== undefined && !proxy.available) return Promise.reject(new Error(`${spec.name}: ${proxy.reason}`));
  const env = proxy?.available === true ? { ...process.env, BENCH_PROXY_BIN: proxy.path } : process.env;
  const child: ChildProcess = cpu === undefined ? spawn(node, args, { stdio: ['ignore', 'pipe', 'inherit'], env }) : spawn('taskset', ['-c', String(cpu), node, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${spec.name} did not start within 30 s`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${spec.name} exited with code ${code} before it was ready`));
    });
    const given = new Map<number, Record<string, number>>();
    let backends: Map<number, number> | undefined;
    let reloaded = 0;
    let moved: number | undefined;
    let reloadMs = 0;
    let ready: RegExpExecArray | null = null;
    // Line by line: `REDISPATCH <pid> <reason>`, counted per worker pid; `RELOADED <moved> <ms>`;
    // `BACKENDS <pid>:<port>,…` (a proxy's, before READY and after each reload); `READY <port> [transport]`.
    const readLines = (): void => {
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^REDISPATCH (\d+) (\S+)/.exec(line);
        if (m !== null) {
          const byReason = given.get(Number(m[1])) ?? {};
          byReason[m[2]!] = (byReason[m[2]!] ?? 0) + 1;
          given.set(Number(m[1]), byReason);
        }
        const r = /^RELOADED (\S+) (\d+)/.exec(line);
        if (r !== null) {
          reloaded++;
          reloadMs += Number(r[2]);
          if (r[1] !== '-') moved = Number(r[1]);
        }
        const b = /^BACKENDS (\S+)/.exec(line);
        if (b !== null) backends = new Map(b[1]!.split(',').map((pair) => pair.split(':').map(Number) as [number, number]));
        ready ??= /^READY (\d+)(?: (\S+))?$/.exec(line);
      }
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const before = ready;
      readLines();
      const match = ready as RegExpExecArray | null;
      if (before !== null || match === null) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const pid = child.pid!;
      if (spec.transport !== undefined && match[2] !== spec.transport) {
        child.kill('SIGKILL');
        reject(new Error(`${spec.name}: the primary ran on transport ${match[2] ?? '?'}`));
        return;
      }
      resolve({
        port: Number(match[1]),
        pid,
        transport: match[2],
        backends: () => backends,
        redispatched: (from) => ({ ...given.get(from) }),
        reloads: () => ({ done: reloaded, moved, ms: reloadMs }),
        stop: () =>
          new Promise<void>((done) => {
            // Every process of the server, by pid: none may outlive the cell.
            const tree = processTree(pid);
            const finish = (): void => {
              for (const p of tree) {
                try {
                  process.kill(p, 'SIGKILL');
                } catch {
                  // Already gone.
                }
              }
              done();
            };
            if (child.exitCode !== null || child.signalCode !== null) return finish();
            const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
            child.once('exit', () => {
              clearTimeout(kill);
              finish();
            });
            child.kill('SIGTERM');
          }),
      });
    });
  });
}
