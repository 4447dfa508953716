import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';
import { killAll, waitFor } from '../../../tools/testing/src/index.js';

/** The built command. */
export const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
/** A fixture's path. */
export const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

/** A `handoff start` running as its own process, with its JSON log lines. */
export interface Running {
  readonly child: ChildProcess;
  /** Every JSON line it wrote on stdout, parsed (lines that are not JSON are kept as { raw }). */
  readonly lines: Array<Record<string, unknown>>;
  readonly stderr: () => string;
  readonly port: number;
  /** Worker pids seen in spawn events (for cleanup and checks). */
  readonly workerPids: Set<number>;
  readonly exited: Promise<number | null>;
}

/** A test's sandbox: its own control folder, and every process it started killed after the test. */
export function useSandbox(): { env: NodeJS.ProcessEnv; runtimeDir: () => string; start(args: string[], options?: { env?: Record<string, string>; cwd?: string; waitReady?: boolean; wrap?: readonly string[]; node?: string }): Promise<Running>; cli(args: string[], options?: { cwd?: string }): Promise<{ code: number | null; stdout: string; stderr: string }> } {
  let dir = '';
  const pids = new Set<number>();
  const env: NodeJS.ProcessEnv = {};
  afterEach(async () => {
    killAll(pids);
    pids.clear();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });
  const runtimeDir = (): string => {
    if (dir === '') dir = mkdtempSync(join(tmpdir(), 'handoff-cli-test-'));
    return dir;
  };
  const baseEnv = (): NodeJS.ProcessEnv => ({ ...process.env, XDG_RUNTIME_DIR: runtimeDir(), NO_COLOR: '1', ...env });
  return {
    env,
    runtimeDir,
    async start(args, options = {}) {
      // `wrap`: a command that runs the handoff command in turn (systemd-socket-activate …), same pid.
      // `node`: another Node binary runs the command (and so its workers).
      const argv = [options.node ?? process.execPath, bin, 'start', ...args, '--log-format', 'json'];
      const [file, ...rest] = options.wrap === undefined ? argv : [...options.wrap, ...argv];
      const child = spawn(file!, rest, { cwd: options.cwd, env: { ...baseEnv(), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      pids.add(child.pid!);
      const lines: Array<Record<string, unknown>> = [];
      const workerPids = new Set<number>();
      let partial = '';
      let err = '';
      child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
      child.stdout!.on('data', (c: Buffer) => {
        const parts = (partial + c.toString()).split('\n');
        partial = parts.pop()!;
        for (const line of parts) {
          let parsed: Record<string, unknown>;
          try {
            parsed = JSON.parse(line) as Record<string, unknown>;
          } catch {
            parsed = { raw: line };
          }
          lines.push(parsed);
          if (parsed.event === 'worker:spawn' && typeof parsed.pid === 'number') {
            workerPids.add(parsed.pid);
            pids.add(parsed.pid);
          }
        }
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      let port = 0;
      if (options.waitReady !== false) {
        await Promise.race([
          waitFor(() => lines.some((l) => l.event === 'ready'), 20_000, 20, `handoff start ${args.join(' ')} to be ready`),
          exited.then((code) => {
            throw new Error(`handoff start exited with ${code} before it was ready: ${err}`);
          }),
        ]);
        const bound = lines.find((l) => l.event === 'listener:bound') as { address?: { port?: number } } | undefined;
        port = bound?.address?.port ?? 0;
      }
      return { child, lines, stderr: () => err, port, workerPids, exited };
    },
    cli(args, options = {}) {
      return new Promise((resolve) => {
        const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        pids.add(child.pid!);
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
        child.once('exit', (code) => resolve({ code, stdout, stderr }));
      });
    },
  };
}
