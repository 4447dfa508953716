import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive, killAll, runLoad, waitFor } from '../../../tools/testing/src/index.js';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
let child: ChildProcess | undefined;
const workerPids = new Set<number>();

afterEach(() => {
  killAll([child?.pid ?? -1, ...workerPids]);
  child = undefined;
  workerPids.clear();
});

describe('the demo on SIGHUP', () => {
  it('reloads its workers without a failed request under load', async () => {
    child = spawn(process.execPath, [main], { env: { ...process.env, PORT: '0', WORKERS: '2' }, stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let buffer = '';
    child.stdout!.on('data', (c: Buffer) => {
      buffer += c.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    await waitFor(() => lines.length > 0, 15_000, 20, 'the listening line');
    const port = Number(/:(\d+) /.exec(lines[0]!)![1]);
    const stop = new AbortController();
    const keepAlive = runLoad({ port, concurrency: 3, keepAlive: true, signal: stop.signal });
    const churn = runLoad({ port, concurrency: 3, keepAlive: false, signal: stop.signal });
    for (let i = 1; i <= 3; i++) {
      child.kill('SIGHUP');
      await waitFor(() => lines.filter((l) => l.startsWith('reloaded')).length === i, 20_000, 20, `reload #${i}`);
    }
    stop.abort();
    const [ka, ch] = await Promise.all([keepAlive, churn]);
    expect(lines.filter((l) => l.startsWith('reloaded'))).toEqual(new Array(3).fill('reloaded (2 workers replaced)'));
    expect({ failed: ka.failed + ch.failed, non2xx: ka.non2xx + ch.non2xx, errors: [...ka.errors, ...ch.errors] }).toEqual({ failed: 0, non2xx: 0, errors: [] });
    expect(ka.ok + ch.ok).toBeGreaterThan(50);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(isAlive(child.pid!)).toBe(false);
  });
});
