import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { get, isAlive, killAll, pidOf, waitFor } from '../../../tools/testing/src/index.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const started: ChildProcess[] = [];
const workerPids = new Set<number>();

afterEach(() => {
  killAll([...started.map((c) => c.pid ?? -1), ...workerPids]);
  started.length = 0;
  workerPids.clear();
});

/** Starts the demo's CLI and resolves with its first stdout line. */
function startDemo(env: Record<string, string>, args: string[] = []): Promise<{ child: ChildProcess; line: string; stderr: () => string }> {
  const child = spawn(process.execPath, [main, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, line: out.slice(0, nl), stderr: () => stderr });
    });
    child.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${stderr}`)));
  });
}

describe('the demo CLI', () => {
  it('prints one line once ready, answers curl-style requests from two pids, and stops cleanly on SIGINT', async () => {
    const { child, line } = await startDemo({ PORT: '0', WORKERS: '2' });
    const match = /^listening on http:\/\/127\.0\.0\.1:(\d+) \(2 workers, policy round-robin, transport (native|ipc)\)$/.exec(line);
    expect(match, line).not.toBeNull();
    const port = Number(match![1]);
    const a = await get(port, { close: true });
    const b = await get(port, { close: true });
    const pids = [pidOf(a.body), pidOf(b.body)];
    pids.forEach((p) => workerPids.add(p));
    expect(new Set(pids).size).toBe(2);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await waitFor(() => pids.every((p) => !isAlive(p)), 5000, 20, 'the workers to exit');
  });

  it('takes its settings from flags', async () => {
    const { child, line } = await startDemo({}, ['--port', '0', '--workers', '1', '--policy', 'shared']);
    expect(line).toMatch(/\(1 workers, policy shared\)$/);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });

  it('refuses an unknown policy with a clear message and exit code 2', async () => {
    const child = spawn(process.execPath, [main], { env: { ...process.env, PORT: '0', POLICY: 'nope' }, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown policy "nope"; choose one of: round-robin, least-connections, .*, reuseport/);
  });
});
