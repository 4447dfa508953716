import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { POLICIES } from './policies.js';
import { processTree } from './proc.js';

/** A server under test. */
export interface ServerSpec {
  /** Name in the report: `single`, `cluster-rr`, `cluster-none`, `reuseport`, `handoff:<policy>`. */
  readonly name: string;
  readonly kind: 'single' | 'cluster-rr' | 'cluster-none' | 'reuseport' | 'handoff';
  readonly policy?: string;
  /** `handoff:<policy>+metrics`: with `@handoff/metrics` serving its `/metrics` beside (what it costs). */
  readonly metrics?: boolean;
  /** The references handoff is compared with. */
  readonly anchor: boolean;
}

/** Report order of the policies the bench knows of; any other (new) policy comes after them. */
const ORDER = ['round-robin', 'least-connections', 'power-of-two-choices', 'weighted', 'random', 'ip-hash', 'shared', 'balanced-shared', 'reuseport'];
const rank = (policy: string): number => (ORDER.includes(policy) ? ORDER.indexOf(policy) : ORDER.length);

/** Every server the bench knows, anchors first. */
export function allServers(): ServerSpec[] {
  return [
    { name: 'single', kind: 'single', anchor: true },
    { name: 'cluster-rr', kind: 'cluster-rr', anchor: true },
    { name: 'cluster-none', kind: 'cluster-none', anchor: true },
    { name: 'reuseport', kind: 'reuseport', anchor: true },
    ...Object.keys(POLICIES)
      .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
      .map((policy): ServerSpec => ({ name: `handoff:${policy}`, kind: 'handoff', policy, anchor: false })),
    // The cost of metrics, measured against the same policy without them (only when asked for by name).
    ...['round-robin', 'shared'].map((policy): ServerSpec => ({ name: `handoff:${policy}+metrics`, kind: 'handoff', policy, metrics: true, anchor: false })),
  ];
}

/** True when the Node binary `node` has `reusePort` (22.12+ / 23.1+) on Linux. */
export function supportsReusePort(node: string): boolean {
  const out = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
  const [major = 0, minor = 0] = out.split('.').map(Number);
  return process.platform === 'linux' && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
}

/** True when `taskset` can pin processes to cores here (Linux, 2 cores or more). */
export function canPin(): boolean {
  return spawnSync('taskset', ['-c', '0', 'true']).status === 0;
}

/** A started server: its port, its top process, and how to stop it. */
export interface RunningServer {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

const RUNNER = fileURLToPath(new URL('./runner.js', import.meta.url));

/** Starts `spec` with `workers` processes on the Node binary `node`, pinned to `cpu` when given. */
export function startServer(spec: ServerSpec, workers: number, node: string, cpu: number | undefined, execArgv: readonly string[] = []): Promise<RunningServer> {
  // Worker processes inherit the runner's Node flags (cluster, fork and handoff all default to process.execArgv).
  const args = [...execArgv, RUNNER, spec.kind, String(workers), spec.policy ?? '', spec.metrics === true ? 'metrics' : ''];
  const child: ChildProcess = cpu === undefined ? spawn(node, args, { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn('taskset', ['-c', String(cpu), node, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
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
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\d+)/.exec(out);
      if (match === null) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const pid = child.pid!;
      resolve({
        port: Number(match[1]),
        pid,
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
