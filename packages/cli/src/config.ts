import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliErrorCode, HandoffCliError } from './errors.js';
import { OPTIONS, type HandoffConfig } from './options.js';
import { didYouMean } from './suggest.js';

/** The config files `handoff start` looks for in the working directory, in this order. */
export const CONFIG_FILES = ['handoff.config.mjs', 'handoff.config.js', 'handoff.config.cjs', 'handoff.config.json'] as const;

/**
 * Types a config file: returns `config` as it is, so `handoff.config.mjs` gets completion and checks.
 *
 * @example
 * ```js
 * // handoff.config.mjs
 * import { defineConfig } from '@handoff/cli';
 *
 * export default defineConfig({ entry: 'app.js', workers: 4, policy: 'least-connections', port: 8080 });
 * ```
 */
export function defineConfig(config: HandoffConfig): HandoffConfig {
  return config;
}

/** A loaded config: its values already read, and where it came from. */
export interface LoadedConfig {
  readonly path: string;
  /** Values by key, read as flags are (`drainTimeout: '10s'` → 10000); paths resolved from the file's folder. */
  readonly values: Readonly<Record<string, unknown>>;
}

/** Finds the config file: `explicit` (which must exist), else the first of {@link CONFIG_FILES} in `cwd`. */
export function findConfig(cwd: string, explicit: string | undefined): string | undefined {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path)) throw new HandoffCliError(CliErrorCode.CONFIG, `config file ${explicit} does not exist (resolved to ${path})`);
    return path;
  }
  for (const name of CONFIG_FILES) {
    const path = join(cwd, name);
    if (existsSync(path)) return path;
  }
  return undefined;
}

/** Loads and checks a config file: every key must be one of the table's, every value of its kind. */
export async function loadConfig(path: string): Promise<LoadedConfig> {
  let raw: unknown;
  try {
    if (path.endsWith('.json')) raw = JSON.parse(readFileSync(path, 'utf8'));
    else {
      const module = (await import(pathToFileURL(path).href)) as { default?: unknown };
      raw = module.default;
    }
  } catch (error) {
    throw new HandoffCliError(CliErrorCode.CONFIG, `cannot load config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof raw === 'function') raw = await (raw as () => unknown)();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HandoffCliError(CliErrorCode.CONFIG, `config file ${path} must export an object (export default defineConfig({ ... }))`);
  }
  const keys = OPTIONS.filter((o) => o.inConfig).map((o) => o.key);
  const values: Record<string, unknown> = {};
  const base = dirname(path);
  for (const [key, value] of Object.entries(raw)) {
    const spec = OPTIONS.find((o) => o.inConfig && o.key === key);
    if (spec === undefined) throw new HandoffCliError(CliErrorCode.CONFIG, `${path}: unknown key ${JSON.stringify(key)}${didYouMean(key, keys, (k) => JSON.stringify(k))} (keys: ${keys.join(', ')})`);
    if (value === undefined) continue;
    let read: unknown;
    try {
      read = spec.read === undefined ? value : spec.read(value, `${key}`);
    } catch (error) {
      throw new HandoffCliError(CliErrorCode.CONFIG, `${path}: ${(error as Error).message}`, { cause: error });
    }
    values[key] = (key === 'entry' || key === 'envFile') && typeof read === 'string' && !isAbsolute(read) ? resolve(base, read) : read;
  }
  return { path, values };
}
