// A primary in its own process (fixtures/storm-primary.mjs), steered over its IPC channel: for the
// tests that signal the primary, limit its descriptors or close its stdout.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./fixtures/storm-primary.mjs', import.meta.url));

export interface ChildPrimary {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Every message it sent: `{ spawn }`, `{ ready }`, `{ reload, error, ms }`, `{ error }`. */
  readonly events: Array<Record<string, unknown>>;
  /** Every worker pid it forked. */
  readonly pids: Set<number>;
  readonly exited: Promise<number | null>;
  stats(): Promise<{ stats: Record<string, unknown> & { queued: number }; workers: Array<{ id: number; pid: number; state: string }>; state: string }>;
}

/** Starts the primary with `env` (WORKERS, OUTPUT, …); `wrap` runs it under e.g. `prlimit`. */
export async function spawnChildPrimary(env: Record<string, string> = {}, stdio: StdioOptions = ['ignore', 'ignore', 'inherit', 'ipc'], wrap: string[] = []): Promise<ChildPrimary> {
  const argv = [...wrap, process.execPath, script];
  const child = spawn(argv[0]!, argv.slice(1), { stdio, env: { ...process.env, ...env } });
  const events: Array<Record<string, unknown>> = [];
  const pids = new Set<number>();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waiters: Array<(m: Record<string, unknown>) => void> = [];
  child.on('message', (m: Record<string, unknown>) => {
    if (typeof m.spawn === 'number') pids.add(m.spawn);
    if ('stats' in m) waiters.shift()?.(m);
    else events.push(m);
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (typeof m.port === 'number') {
        child.off('message', onMessage);
        resolve(m);
      }
    };
    child.on('message', onMessage);
    void exited.then((code) => reject(new Error(`primary exited early: ${code}`)));
  });
  return {
    child,
    pid: ready.pid as number,
    port: ready.port as number,
    events,
    pids,
    exited,
    stats: () =>
      new Promise((resolve) => {
        waiters.push(resolve as never);
        child.send('stats');
      }),
  };
}

/** CPU time (user + system) a process has used, in ms, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name; clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
