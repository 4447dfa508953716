import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type ListenOptions, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import type { Connection, LinkHooks, PrimaryTransport, WorkerLink } from '../src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url));

/** Run after each test, last first; then every child still alive is SIGKILLed by pid. */
const cleanups: Array<() => unknown> = [];
const children = new Set<ChildProcess>();
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  children.clear();
});

export function onCleanup(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

/** A worker forked with the transport's plan, its link, and what it says. */
export interface TestWorker {
  readonly child: ChildProcess;
  readonly link: WorkerLink;
  readonly pid: number;
  readonly ready: Promise<{ transport: string; fallbackReason: string | undefined; heir?: number }>;
  readonly exited: Promise<unknown>;
  stats(): Promise<{ stats: { received: number; wakeups: number; batches: number; acks: number }; closed: string | undefined }>;
}

/**
 * A dispatcher as small as the tests need: round-robin over its links, a FIFO of connections no
 * link takes (at its cap), placed again on every ack; what a closed link gives back goes first.
 */
export class TestDispatcher {
  readonly links: WorkerLink[] = [];
  readonly waiting: Connection[] = [];
  readonly returned: Connection[] = [];
  /** Only this link is tried while it is open (the cap test). */
  only: WorkerLink | undefined;
  private next = 0;

  hooks(): LinkHooks & { link?: WorkerLink } {
    const hooks: LinkHooks & { link?: WorkerLink } = {
      onAcknowledged: () => this.flush(),
      onReturned: (returned) => {
        this.returned.push(...returned);
        this.waiting.unshift(...returned);
        this.flush();
      },
      onClosed: (returned) => {
        const i = this.links.indexOf(hooks.link!);
        if (i >= 0) this.links.splice(i, 1);
        if (this.only === hooks.link) this.only = undefined;
        this.returned.push(...returned);
        this.waiting.unshift(...returned);
        this.flush();
      },
    };
    return hooks;
  }

  place(connection: Connection): void {
    if (!this.trySend(connection)) this.waiting.push(connection);
  }

  flush(): void {
    while (this.waiting.length > 0 && this.trySend(this.waiting[0]!)) this.waiting.shift();
  }

  private trySend(connection: Connection): boolean {
    if (this.only !== undefined && !this.only.closed) {
      if (!this.only.send(connection)) return false;
      connection.attempts++;
      return true;
    }
    for (let k = 0; k < this.links.length; k++) {
      const link = this.links[this.next++ % this.links.length]!;
      if (link.send(connection)) {
        connection.attempts++;
        return true;
      }
    }
    return false;
  }
}

export function startWorker(transport: PrimaryTransport, dispatcher: TestDispatcher, env: Record<string, string> = {}): TestWorker {
  const plan = transport.prepareSpawn();
  const child = fork(fixture, [], plan.options({ env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  children.add(child);
  const hooks = dispatcher.hooks();
  const link = plan.attach(child, hooks);
  hooks.link = link;
  dispatcher.links.push(link);
  const exited = once(child, 'exit');
  const ready = new Promise<{ transport: string; fallbackReason: string | undefined; heir?: number }>((resolve, reject) => {
    const onMessage = (m: { type?: string; transport: string; fallbackReason: string | undefined; heir?: number }): void => {
      if (m.type !== 'ready') return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code, signal) => reject(new Error(`worker exited (${code ?? signal}) before it was ready`)));
  });
  const stats = (): Promise<never> =>
    new Promise((resolve) => {
      const onMessage = (m: { type?: string }): void => {
        if (m.type !== 'stats') return;
        child.off('message', onMessage);
        resolve(m as never);
      };
      child.on('message', onMessage);
      child.send('stats');
    });
  return { child, link, pid: child.pid!, ready, exited, stats };
}

/** A net.Server listening on `options`, closed after the test if still listening. */
export async function listening(options: ListenOptions): Promise<Server> {
  const server = createServer();
  server.listen(options);
  await once(server, 'listening');
  onCleanup(() => {
    if (server.listening) server.close();
  });
  return server;
}

/** One HTTP request on a fresh connection; resolves with the status and the body (the worker's pid). */
export function get(target: { port: number; host?: string } | { socketPath: string }): Promise<{ status: number; body: string; listener: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path: '/', agent: false, timeout: 20_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, listener: String(res.headers['x-listener']), payload: String(res.headers['x-payload']) }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** `total` requests, `concurrency` at a time; resolves with how many each pid answered. */
export async function load(target: { port: number; host?: string }, total: number, concurrency: number): Promise<Map<string, number>> {
  const byPid = new Map<string, number>();
  let started = 0;
  const lane = async (): Promise<void> => {
    while (started < total) {
      started++;
      const { status, body } = await get(target);
      if (status !== 200) throw new Error(`status ${status}`);
      byPid.set(body, (byPid.get(body) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return byPid;
}

/** Open fds of this process. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Whether `pid` is stopped (state T in /proc/<pid>/stat). */
export function isStopped(pid: number): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
}

/** What the fixture says of a payload: `length:sha1`. */
export function digest(payload: Uint8Array): string {
  return `${payload.length}:${createHash('sha1').update(payload).digest('hex')}`;
}
