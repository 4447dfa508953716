// Every policy name the demo documents, end to end: the CLI starts with POLICY=<name>, serves
// Connection: close requests from its workers, and stops on SIGINT. On a Node without reusePort,
// POLICY=reuseport must fail at start with the typed error's message, never fall back.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { get, isAlive, killAll, pidOf, waitFor } from '../../../tools/testing/src/index.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const REQUESTS = 12;
const started: ChildProcess[] = [];
const workerPids = new Set<number>();

afterEach(() => {
  killAll([...started.map((c) => c.pid ?? -1), ...workerPids]);
  started.length = 0;
  workerPids.clear();
});

interface Run {
  readonly child: ChildProcess;
  /** The first stdout line, or undefined if the demo exited first. */
  readonly line: string | undefined;
  readonly exited: Promise<number | null>;
  stderr(): string;
}

/** Starts the demo with `env` on port 0 and 2 workers; resolves at its first stdout line or its exit. */
function startDemo(env: Record<string, string>): Promise<Run> {
  const child = spawn(process.execPath, [main], { env: { ...process.env, PORT: '0', WORKERS: '2', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: out.slice(0, nl), exited, stderr: () => stderr });
    });
    void exited.then(() => resolve({ child, line: undefined, exited, stderr: () => stderr }));
  });
}

/** `REQUESTS` GETs, one connection each; the serving pid of each, in order. */
async function serve(port: number): Promise<number[]> {
  const pids: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const res = await get(port, { close: true });
    expect(res.status).toBe(200);
    const pid = pidOf(res.body);
    workerPids.add(pid);
    pids.push(pid);
  }
  return pids;
}

const counts = (pids: number[]): number[] => {
  const m = new Map<number, number>();
  for (const p of pids) m.set(p, (m.get(p) ?? 0) + 1);
  return [...m.values()].sort((a, b) => b - a);
};

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const hasReusePort = major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);

/** What each name's spread over 2 workers must look like, for `REQUESTS` sequential connections from one address. */
const expectations: Record<string, (pids: number[]) => void> = {
  'round-robin': (pids) => {
    expect(counts(pids)).toEqual([REQUESTS / 2, REQUESTS / 2]);
    for (let i = 2; i < pids.length; i++) expect(pids[i]).toBe(pids[i - 2]);
  },
  // Default weights for 2 workers: 2, 1.
  weighted: (pids) => expect(counts(pids)).toEqual([(REQUESTS * 2) / 3, REQUESTS / 3]),
  // One client address: one worker.
  'ip-hash': (pids) => expect(counts(pids)).toEqual([REQUESTS]),
  'least-connections': () => {},
  'power-of-two-choices': () => {},
  random: () => {},
  shared: () => {},
  'balanced-shared': () => {},
  reuseport: () => {},
};

describe('the demo serves with every policy name', () => {
  for (const [name, check] of Object.entries(expectations)) {
    const unsupported = name === 'reuseport' && !hasReusePort;
    it(unsupported ? `POLICY=reuseport refuses to start on Node ${process.versions.node}, naming what it needs` : `POLICY=${name}`, async () => {
      const run = await startDemo({ POLICY: name });
      if (unsupported) {
        expect(run.line).toBeUndefined();
        expect(await run.exited).toBe(2);
        expect(run.stderr()).toMatch(/reusePort\(\) needs Node\.js >= 22\.12/);
        return;
      }
      const match = /^listening on http:\/\/127\.0\.0\.1:(\d+) \(2 workers, policy ([^,\s]+)(?:, transport (?:native|ipc))?\)$/.exec(run.line ?? '');
      expect(match, `${run.line} ${run.stderr()}`).not.toBeNull();
      expect(match![2]).toBe(name);
      const pids = await serve(Number(match![1]));
      check(pids);
      run.child.kill('SIGINT');
      expect(await run.exited).toBe(0);
      await waitFor(() => pids.every((p) => !isAlive(p)), 5000, 20, 'the workers to exit');
    });
  }
});
