import * as exported from '@handoff/policies';
import type { Policy } from '@handoff/policies';

/**
 * Options for factories that cannot be called bare, by policy name. Everything else exported by
 * `@handoff/policies` that returns a policy when called with no argument is picked up on its own.
 */
const OPTIONS: Readonly<Record<string, (workers: number) => unknown>> = {
  // Equal weights: the bench measures the dispatch cost, not a skew.
  weighted: (workers) => ({ weights: Array.from({ length: workers }, () => 1) }),
};

function isPolicy(value: unknown): value is Policy {
  if (typeof value !== 'object' || value === null) return false;
  const { mode, name } = value as { mode?: unknown; name?: unknown };
  return typeof name === 'string' && (mode === 'primary' || mode === 'shared' || mode === 'reuseport');
}

/** Calls `factory` once to learn the policy's name and mode; undefined when it is not a policy factory. */
function probe(factory: (options?: unknown) => unknown): Policy | undefined {
  for (const args of [[], [OPTIONS.weighted!(2)]]) {
    try {
      const policy = factory(...(args as [unknown?]));
      if (isPolicy(policy)) return policy;
    } catch {
      // Needs options; try the next shape.
    }
  }
  return undefined;
}

const modes: Record<string, Policy['mode']> = {};

function discover(): Record<string, (workers: number) => Policy> {
  const found: Record<string, (workers: number) => Policy> = {};
  for (const [key, value] of Object.entries(exported)) {
    // Factories are camelCase functions; classes (errors) and enums start with a capital.
    if (typeof value !== 'function' || !/^[a-z]/.test(key)) continue;
    const factory = value as (options?: unknown) => unknown;
    const probed = probe(factory);
    if (probed === undefined) continue;
    const name = probed.name;
    modes[name] = probed.mode;
    found[name] = (workers) => {
      const options = OPTIONS[name];
      return factory(options === undefined ? undefined : options(workers)) as Policy;
    };
  }
  return found;
}

/**
 * Every policy `@handoff/policies` exports at run time, by the policy's own `name` (the one the demo's
 * `POLICY` setting uses): `round-robin`, `shared`, `balanced-shared`, … A new factory shows up in the
 * bench without a change here (add an entry to `OPTIONS` if it cannot be called bare).
 */
export const POLICIES: Readonly<Record<string, (workers: number) => Policy>> = discover();

/**
 * The distribution mode of a policy `POLICIES` knows (`primary`: the primary passes each connection,
 * on a transport; `shared`, `reuseport`: the kernel modes, which pass none); undefined for another name.
 */
export function policyMode(name: string): Policy['mode'] | undefined {
  return modes[name];
}
