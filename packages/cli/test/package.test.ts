import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, killAll, waitFor } from '../../../tools/testing/src/index.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = (name: string): string => join(root, 'node_modules', '.bin', name);

/** The workspace packages `@handoff/cli` needs, itself included: what a user installs. */
function packagesToPack(): string[] {
  const dirs = new Map<string, string>();
  for (const dir of readdirSync(join(root, 'packages'))) {
    try {
      const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as { name: string };
      dirs.set(manifest.name, join(root, 'packages', dir));
    } catch {
      // Not a package.
    }
  }
  const wanted = new Set<string>();
  const visit = (name: string): void => {
    if (wanted.has(name) || !dirs.has(name)) return;
    wanted.add(name);
    const manifest = JSON.parse(readFileSync(join(dirs.get(name)!, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep);
  };
  visit('@handoff/cli');
  return [...wanted].map((n) => dirs.get(n)!);
}

/** pnpm, as the one running this test if any, else through npx. */
function pnpm(args: string[], cwd: string): Promise<{ stdout: string }> {
  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /pnpm/.test(execPath)) return run(process.execPath, [execPath, ...args], { cwd });
  return run('npx', ['--yes', 'pnpm@10', ...args], { cwd });
}

const work = mkdtempSync(join(tmpdir(), 'handoff-pack-'));
const tarballs: string[] = [];
const pids = new Set<number>();
afterAll(() => {
  killAll(pids);
  rmSync(work, { recursive: true, force: true });
});

beforeAll(async () => {
  const dest = join(work, 'tarballs');
  // One at a time: each `pack` runs the package's prepack build.
  for (const dir of packagesToPack()) await pnpm(['pack', '--pack-destination', dest], dir);
  tarballs.push(...readdirSync(dest).map((f) => join(dest, f)));
}, 180_000);

describe('the packed packages', () => {
  it('pass publint and @arethetypeswrong/cli (node16: require resolves to the ES module, which Node >= 20.19 loads)', async () => {
    expect(tarballs.map((t) => t.replace(/.*\//, '')).sort()).toEqual(expect.arrayContaining(['handoff-cli-0.0.0.tgz', 'handoff-orchestrator-0.0.0.tgz', 'handoff-worker-0.0.0.tgz']));
    for (const tarball of tarballs) {
      await run(bin('publint'), [tarball, '--strict']);
      // cjs-resolves-to-esm: `require()` of these ES modules works on Node >= 20.19 (require(esm)) and
      // type-checks with TypeScript >= 5.8 (module nodenext); attw's own TypeScript predates both.
      await run(bin('attw'), [tarball, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm', '--format', 'ascii']);
    }
  }, 120_000);

  it('install with npm into an empty folder, load from CommonJS, and run a CommonJS Express app with npx handoff start app.js -w 2', async () => {
    const app = join(work, 'app');
    const runtime = join(work, 'runtime');
    rmSync(app, { recursive: true, force: true });
    for (const dir of [app, runtime]) mkdirSync(dir, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'plain-express-app', version: '1.0.0', private: true }));
    writeFileSync(
      join(app, 'app.js'),
      "const express = require('express');\nconst app = express();\napp.get('/', (req, res) => res.send(`hello from ${process.pid}\\n`));\napp.listen(3000);\n",
    );
    // As images without a C compiler and installs that hold back scripts do: @handoff/fdpass's
    // install script never runs, and could not compile; its prebuilt addon serves.
    await run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', 'express@^4', ...tarballs], {
      cwd: app,
      timeout: 150_000,
      env: { ...process.env, CC: '/nonexistent' },
    });
    const { stdout } = await run(process.execPath, ['-e', "for (const p of ['protocol', 'policies', 'orchestrator', 'worker', 'cli']) console.log(p, Object.keys(require('@handoff/' + p)).length > 0)"], { cwd: app });
    expect(stdout.trim().split('\n')).toEqual(['protocol true', 'policies true', 'orchestrator true', 'worker true', 'cli true']);

    const env = { ...process.env, XDG_RUNTIME_DIR: runtime, NO_COLOR: '1' };
    const primary = spawn('npx', ['handoff', 'start', 'app.js', '-w', '2', '--port', '3000:0', '--log-format', 'json'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    pids.add(primary.pid!);
    const lines: Array<Record<string, unknown>> = [];
    let partial = '';
    primary.stdout!.on('data', (c: Buffer) => {
      const parts = (partial + c.toString()).split('\n');
      partial = parts.pop()!;
      for (const l of parts) {
        try {
          const parsed = JSON.parse(l) as Record<string, unknown>;
          lines.push(parsed);
          if (parsed.event === 'worker:spawn') pids.add(parsed.pid as number);
        } catch {
          lines.push({ raw: l });
        }
      }
    });
    const exited = new Promise<number | null>((resolve) => primary.once('exit', resolve));
    await waitFor(() => lines.some((l) => l.event === 'ready'), 30_000, 50, 'npx handoff start to be ready');
    const port = (lines.find((l) => l.event === 'listener:bound') as { address: { port: number } }).address.port;
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) seen.add((await get(port)).body);
    expect(seen.size).toBe(2);
    const status = await run('npx', ['handoff', 'status', '--json'], { cwd: app, env });
    const { workers, addon } = JSON.parse(status.stdout) as { workers: Array<{ transport: string }>; addon: { transport: string; binary: string | null } | null };
    expect(workers).toHaveLength(2);
    // The tarball's prebuilt addon for this platform and libc (packed where its toolchain was; CI
    // has them): connections cross on the native transport with nothing compiled, unless the suite runs on IPC.
    const musl = /\/ld-musl-/.test(readFileSync('/proc/self/maps', 'utf8'));
    const target = `${process.platform}-${process.arch}-${musl ? 'musl' : 'gnu'}`;
    const prebuilt = existsSync(join(app, 'node_modules/@handoff/fdpass/prebuilds', target, 'fdpass.node'));
    if (process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1' && process.arch === 'x64') {
      expect(prebuilt).toBe(true);
      // What ships where CI's toolchains are (scripts/build-prebuilds.mjs): every target.
      expect(readdirSync(join(app, 'node_modules/@handoff/fdpass/prebuilds')).sort()).toEqual(['linux-arm64-gnu', 'linux-arm64-musl', 'linux-x64-gnu', 'linux-x64-musl']);
    }
    expect(existsSync(join(app, 'node_modules/@handoff/fdpass/build'))).toBe(false);
    if (process.env.HANDOFF_TRANSPORT === 'ipc') expect(workers.map((w) => w.transport)).toEqual(['ipc', 'ipc']);
    else if (prebuilt) {
      expect(workers.map((w) => w.transport)).toEqual(['native', 'native']);
      expect(lines.find((l) => l.event === 'ready')).toMatchObject({ transport: 'native', addon: `prebuilt ${target}` });
      expect(addon).toMatchObject({ transport: 'native', binary: `prebuilt ${target}` });
      expect((await run('npx', ['handoff', 'status'], { cwd: app, env })).stdout).toContain(`transport native (prebuilt ${target});`);
    }
    await run('npx', ['handoff', 'stop'], { cwd: app, env });
    expect(await exited).toBe(0);
  }, 240_000);
});
