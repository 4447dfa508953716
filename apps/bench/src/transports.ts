import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a `primary`-mode handoff server passes connections to its workers (`createPrimary({ transport })`). */
export type Transport = 'native' | 'ipc';

/** Every transport, in report order: the addon first, the channel it falls back to second. */
export const TRANSPORTS: readonly Transport[] = ['native', 'ipc'];

/** Whether `@handoff/fdpass`'s addon loads in a Node binary, and if not, why. */
export interface NativeProbe {
  readonly available: boolean;
  readonly reason?: string;
}

const PROBE = fileURLToPath(new URL('./probe-native.js', import.meta.url));

/**
 * Asks the Node binary `node` (the one the servers run on, which may not be this one) whether the
 * native transport loads there: the answer of `@handoff/fdpass`'s own `nativeStatus()`.
 */
export function probeNative(node: string): NativeProbe {
  const out = spawnSync(node, [PROBE], { encoding: 'utf8' });
  try {
    return JSON.parse(out.stdout.trim()) as NativeProbe;
  } catch {
    return { available: false, reason: `the probe failed: ${(out.stderr ?? '').trim().split('\n').pop() ?? `exit ${out.status}`}` };
  }
}

/** Parses `--transports a,b`; throws naming what it does not know. */
export function parseTransports(text: string): Transport[] {
  const names = text.split(',').filter((t) => t !== '');
  const unknown = names.find((t) => !(TRANSPORTS as readonly string[]).includes(t));
  if (unknown !== undefined) throw new Error(`unknown transport ${unknown} (of: ${TRANSPORTS.join(', ')})`);
  if (names.length === 0) throw new Error('--transports names none');
  return TRANSPORTS.filter((t) => names.includes(t));
}
