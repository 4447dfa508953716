// No leak over time (issue 15, item 2), CI-sized: the soak (tools/soak, `pnpm soak` runs the long
// form) with 10,000 churned connections, 2,000 keep-alive requests and 200 WebSocket sessions
// through mode primary while the workers are reloaded every 2 s; afterwards the primary's and
// every worker's open descriptors are back to their baseline (±2), their heap after a GC within
// 4 MB of it and their RSS after a GC within 32 MB (what the allocator keeps), and no request failed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const soak = fileURLToPath(new URL('../../../tools/soak/soak.mjs', import.meta.url));

describe('no leak over time', () => {
  it('10,000 churned connections, 2,000 keep-alive requests, 200 WebSocket sessions, reloads: descriptors and RSS back to baseline', async () => {
    const child = spawn(process.execPath, ['--expose-gc', soak, '--connections', '10000', '--keepalive', '2000', '--ws', '200', '--modes', 'primary', '--reload-every', '2000', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const [row] = JSON.parse(out.trim().split('\n').pop()!) as Array<{ problems: string[]; ok: number; failed: number; reloads: number; before: { primary: { fds: number } }; after: { primary: { fds: number } } }>;
    expect(row!.problems).toEqual([]);
    expect(row!.ok).toBe(12_200);
    expect(row!.reloads).toBeGreaterThan(0);
    expect(Math.abs(row!.after.primary.fds - row!.before.primary.fds)).toBeLessThanOrEqual(2);
    expect(code).toBe(0);
  }, 90_000);
});
