import { isAbsolute } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** The preload that turns an app's own `listen()` into a request to the primary. */
export const REGISTER_SPECIFIER = '@handoff/worker/register';

/**
 * Where `--import` finds the drop-in preload: the copy of `@handoff/worker` the worker module itself
 * would import, or, when it cannot be resolved from there, the bare specifier (resolved by Node from
 * the worker's working directory).
 */
export function resolveRegister(workerPath: string, register: string | undefined): string {
  if (register !== undefined) return isAbsolute(register) ? pathToFileURL(register).href : register;
  try {
    return pathToFileURL(createRequire(workerPath).resolve(REGISTER_SPECIFIER)).href;
  } catch {
    return REGISTER_SPECIFIER;
  }
}
