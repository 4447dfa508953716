import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { get, runLoad, waitFor } from '../../../tools/testing/src/index.js';
import { ignored } from '../src/watch.js';
import { useSandbox } from './helpers.js';

const sandbox = useSandbox();
const folders: string[] = [];
afterEach(() => {
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});

describe('--watch', () => {
  it('reloads when a file under the app folder changes, with no failed request; node_modules and dot-folders are ignored', async () => {
    const app = mkdtempSync(join(tmpdir(), 'handoff-watch-'));
    folders.push(app);
    mkdirSync(join(app, 'node_modules'));
    mkdirSync(join(app, '.git'));
    writeFileSync(join(app, 'version.txt'), 'v1');
    writeFileSync(
      join(app, 'app.mjs'),
      "import { readFileSync } from 'node:fs';\nimport { createServer } from 'node:http';\nconst version = readFileSync(new URL('./version.txt', import.meta.url), 'utf8');\ncreateServer((req, res) => res.end(version)).listen(3000);\n",
    );
    const run = await sandbox.start([join(app, 'app.mjs'), '-w', '2', '--port', '3000:0', '--watch']);
    expect((await get(run.port)).body).toBe('v1');
    const reloads = (): number => run.lines.filter((l) => l.event === 'reload:end').length;
    writeFileSync(join(app, 'node_modules', 'dep.js'), 'x');
    writeFileSync(join(app, '.git', 'HEAD'), 'x');
    await new Promise((r) => setTimeout(r, 600));
    expect(reloads()).toBe(0);

    const controller = new AbortController();
    const loads = [runLoad({ port: run.port, concurrency: 2, keepAlive: true, signal: controller.signal }), runLoad({ port: run.port, concurrency: 2, keepAlive: false, signal: controller.signal })];
    writeFileSync(join(app, 'version.txt'), 'v2');
    await waitFor(() => reloads() === 1, 20_000, 20, 'the watch reload');
    controller.abort();
    for (const r of await Promise.all(loads)) {
      expect(r.failed, r.errors.join('\n')).toBe(0);
      expect(r.non2xx).toBe(0);
    }
    expect((await get(run.port)).body).toBe('v2');
    expect(run.lines.find((l) => l.event === 'watch' && String(l.msg).startsWith('changed'))?.files).toEqual(['version.txt']);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('ignores node_modules and dot-folders anywhere in the path', () => {
    expect(ignored('node_modules/x/index.js')).toBe(true);
    expect(ignored('src/.cache/a')).toBe(true);
    expect(ignored('.env')).toBe(true);
    expect(ignored('src/app.js')).toBe(false);
  });
});
