import { fork, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { haproxyConfig, haproxySocket, nginxConfig, nginxModulesPath, proxyCommand, type ProxyKind, type ProxyMode } from './proxies.js';

const BACKEND = fileURLToPath(new URL('./backend-entry.js', import.meta.url));

/** A single Node process serving the bench app on its own port, behind the proxy. */
export interface Backend {
  readonly child: ChildProcess;
  readonly port: number;
}

/** Forks a backend on `port` (0: any) and resolves once it listens, with the port it got. */
export function startBackend(port: number): Promise<Backend> {
  const child = fork(BACKEND, [], { env: { ...process.env, BENCH_BACKEND_PORT: String(port) } });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`a backend on port ${port} exited with code ${code} before it listened`)));
    child.once('message', (m) => {
      child.removeAllListeners('exit');
      resolve({ child, port: (m as { port: number }).port });
    });
  });
}

/** A free port on 127.0.0.1, for a proxy, which needs one named (the kernel picks, then it is let go). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true once something accepts a TCP connection on `port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** One GET / through the proxy: the status and body (the app answers `pid:<backend pid>`). */
function fetchOnce(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
  });
}

/** A proxy process running in the foreground, its configuration in a temp folder of its own. */
export class RunningProxy {
  private stderr = '';
  private exited = false;

  private constructor(
    readonly kind: ProxyKind,
    readonly port: number,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    // Its warnings (HAProxy's "server is DOWN" at a crash) are kept, and shown only if it dies.
    child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)));
    child.once('exit', () => (this.exited = true));
  }

  /** The proxy's top process (nginx's master; its workers are its children). */
  get pid(): number {
    return this.child.pid!;
  }

  /**
   * Starts `kind` in front of the backends on `backends` with `binary`, on a free port, and
   * resolves once a request through it is answered by a backend.
   */
  static async start(kind: ProxyKind, mode: ProxyMode, binary: string, backends: readonly number[]): Promise<RunningProxy> {
    const dir = mkdtempSync(join(tmpdir(), `bench-${kind}-`));
    // nginx started as root runs its workers as nobody, who must reach its temp folders here.
    chmodSync(dir, 0o755);
    const modules = kind === 'nginx' && mode === 'tcp' ? nginxModulesPath(binary) : undefined;
    let last = '';
    // The port is free when asked and taken by the proxy a moment later: another process may take it between.
    for (let attempt = 1; attempt <= 3; attempt++) {
      const port = await freePort();
      const config = { mode, port, backends, dir };
      const file = join(dir, `${kind}.cfg`);
      writeFileSync(file, kind === 'haproxy' ? haproxyConfig(config) : nginxConfig(config, modules));
      const { command, args } = proxyCommand(kind, binary, file, dir);
      const proxy = new RunningProxy(kind, port, dir, spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
      for (let i = 0; i < 500 && !proxy.exited && !(await accepts(port)); i++) await sleep(20);
      if (!proxy.exited) {
        const answer = await fetchOnce(port).catch((error: Error) => ({ status: 0, body: error.message }));
        if (answer.status === 200 && answer.body.startsWith('pid:')) return proxy;
        last = `a request through it got ${answer.status} ${answer.body.slice(0, 200)}`;
        await proxy.stop(false);
        break;
      }
      last = proxy.stderr.trim();
      if (!/in use/i.test(last)) break;
    }
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${kind} did not start: ${last}`);
  }

  /** The proxy's last words on stderr (empty when it said nothing). */
  get said(): string {
    return this.stderr.trim();
  }

  /**
   * Takes backend `index` (0-based) out of rotation before its restart (`true`), or puts it back
   * (`false`): HAProxy's admin socket, `set server app/sN state maint|ready`, as a deploy script
   * does. nginx open source has no such interface: it finds a backend gone when connecting to it
   * is refused, and tries the next (`proxy_next_upstream`).
   */
  async rotate(index: number, out: boolean): Promise<void> {
    if (this.kind !== 'haproxy') return;
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(haproxySocket(this.dir));
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (text += c));
      socket.once('error', reject);
      socket.once('close', () => resolve(text));
      socket.end(`set server app/s${index + 1} state ${out ? 'maint' : 'ready'}\n`);
    });
    if (reply.trim() !== '') throw new Error(`haproxy: ${reply.trim()}`);
  }

  /** Stops the proxy (SIGTERM: both stop at once, nginx's master its workers too; SIGKILL after 2 s) and removes its folder. */
  async stop(clean = true): Promise<void> {
    if (!this.exited) {
      const gone = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(timer);
    }
    if (clean) rmSync(this.dir, { recursive: true, force: true });
  }
}
