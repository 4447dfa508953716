import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliErrorCode, HandoffCliError } from './errors.js';

/** The entries Node runs as TypeScript (by type stripping, or through a loader). */
const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/** What the running Node can do, and where the app's folder resolves tsx (undefined: not installed there). */
export interface TypeScriptRuntime {
  /** `process.version`. */
  readonly version: string;
  /** `process.features.typescript` (Node >= 22.10): `'strip'`/`'transform'` where types are stripped by default. */
  readonly features: string | false | undefined;
  /** tsx's loader as the app's folder resolves it, or undefined. */
  readonly tsx: (folder: string) => string | undefined;
}

/** This process's Node, and tsx resolved from the app's folder as the app's own imports would be. */
export function currentRuntime(): TypeScriptRuntime {
  return {
    version: process.version,
    features: (process.features as { typescript?: string | false }).typescript,
    tsx: (folder) => {
      try {
        return createRequire(join(folder, 'noop.js')).resolve('tsx');
      } catch {
        return undefined;
      }
    },
  };
}

/** A `--node-args` that already says how to run TypeScript: the user's loader is theirs to choose. */
function hasLoader(nodeArgs: readonly string[]): boolean {
  for (let i = 0; i < nodeArgs.length; i++) {
    const arg = nodeArgs[i]!;
    if (/^--(experimental-strip-types|experimental-transform-types)$/.test(arg)) return true;
    const m = /^(--import|--loader|--experimental-loader|--require|-r)(?:=(.*))?$/.exec(arg);
    const value = m === null ? undefined : (m[2] ?? nodeArgs[i + 1]);
    if (value !== undefined && /tsx|ts-node|@swc|esbuild|babel|typescript/.test(value)) return true;
  }
  return false;
}

/**
 * The Node flags a `.ts` (`.mts`, `.cts`) entry needs, before the user's `--node-args`: source
 * maps on (stack traces name the `.ts` lines), and a way to run TypeScript: none where Node strips
 * types by default (22.18, 23.6, 24), `--experimental-strip-types` on Node 22.6 to 22.17, else the
 * tsx the app's folder has (`npm install -D tsx`), picked up without a flag. A `--node-args` that
 * names a loader of its own (`--import tsx`, `-r ts-node/register`) is left alone. Node 20 without
 * tsx is refused here, before a worker forks, with what to do: a worker would only die of
 * `ERR_UNKNOWN_FILE_EXTENSION` and leave a stack trace.
 */
export function typescriptNodeArgs(entry: string, nodeArgs: readonly string[], runtime: TypeScriptRuntime = currentRuntime()): string[] {
  if (!TYPESCRIPT_EXTENSIONS.has(extname(entry))) return [];
  const maps = nodeArgs.includes('--enable-source-maps') ? [] : ['--enable-source-maps'];
  if (hasLoader(nodeArgs) || (runtime.features !== undefined && runtime.features !== false)) return maps;
  const [major = 0, minor = 0] = runtime.version.replace(/^v/, '').split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 6)) return ['--experimental-strip-types', ...maps];
  const tsx = runtime.tsx(dirname(entry));
  if (tsx !== undefined) return ['--import', pathToFileURL(tsx).href, ...maps];
  throw new HandoffCliError(
    CliErrorCode.TYPESCRIPT,
    `${entry} is TypeScript, which Node ${runtime.version} cannot run by itself: install tsx in the app's folder (npm install --save-dev tsx) and handoff loads it, ` +
      `or pass your loader (--node-args "--import tsx"), or run on Node >= 22.18, which strips types`,
  );
}
