/**
 * Every built-in policy by the name a command line, a config file or an environment variable gives
 * it: the one list that the CLI's `--policy`, the demo's `POLICY` and their docs read.
 */
import { balancedShared } from './balanced-shared.js';
import { HandoffPolicyError, PolicyErrorCode } from './errors.js';
import { ipHash } from './ip-hash.js';
import { leastConnections } from './least-connections.js';
import { peakEwma } from './peak-ewma.js';
import { powerOfTwoChoices } from './power-of-two-choices.js';
import { random } from './random.js';
import { reusePort } from './reuse-port.js';
import { roundRobin } from './round-robin.js';
import { sharedHandle } from './shared-handle.js';
import type { Policy, PolicyMode } from './types.js';
import { weighted } from './weighted.js';

/** One option a built-in policy takes from text (`weighted:weights=3,1`). */
export interface BuiltinOption {
  /** `number`: one number; `numbers`: a list of numbers (one number is a list of one). */
  readonly type: 'number' | 'numbers';
  /** What a usage line shows for its value: `MS`, `F` (a fraction), `N` (a count), `3,1`. */
  readonly value: string;
  /** The policy cannot be made without it. */
  readonly required?: boolean;
}

/** A built-in policy, as a command line or a config file names it. */
export interface BuiltinPolicy {
  /** The mode of the policies it makes. */
  readonly mode: PolicyMode;
  /** The options it takes from text, by name (a factory may take more in code: a seeded `random`). */
  readonly options: Readonly<Record<string, BuiltinOption>>;
  /**
   * Makes the policy from `options` (numbers, or lists of numbers, by name). An option it does not
   * take, or a bad value, throws `HandoffPolicyError` (`HANDOFF_ERR_INVALID_POLICY_OPTION`).
   */
  create(options?: Readonly<Record<string, unknown>>): Policy;
}

type Options = Readonly<Record<string, unknown>>;

/** A built-in of `mode` whose text options are `options`, made by `make` once the names are checked. */
function builtin(name: string, mode: PolicyMode, options: Readonly<Record<string, BuiltinOption>>, make: (options: Options) => Policy): BuiltinPolicy {
  const names = Object.keys(options);
  return Object.freeze({
    mode,
    options: Object.freeze(options),
    create(given: Options = {}): Policy {
      for (const key of Object.keys(given)) {
        if (!names.includes(key)) throw new HandoffPolicyError(PolicyErrorCode.INVALID_OPTION, `policy ${name} has no option ${JSON.stringify(key)} (${names.length === 0 ? 'it takes none' : `it takes ${names.join(', ')}`})`);
      }
      const values: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(given)) values[key] = options[key]!.type === 'numbers' && !Array.isArray(value) ? [value] : value;
      return make(values);
    },
  });
}

const MS: BuiltinOption = { type: 'number', value: 'MS' };

/**
 * Every built-in policy by its name (the policy's own `name`), in the order usage lines list them:
 * its mode, the options it takes from text, and `create(options)`. Policies of your own are passed
 * as objects, not by name.
 */
export const builtinPolicies = Object.freeze({
  'round-robin': builtin('round-robin', 'primary', {}, () => roundRobin()),
  'least-connections': builtin('least-connections', 'primary', {}, () => leastConnections()),
  'power-of-two-choices': builtin('power-of-two-choices', 'primary', {}, () => powerOfTwoChoices()),
  'peak-ewma': builtin('peak-ewma', 'primary', { decay: MS }, (o) => peakEwma(o as { decay?: number })),
  random: builtin('random', 'primary', {}, () => random()),
  weighted: builtin('weighted', 'primary', { weights: { type: 'numbers', value: '3,1', required: true } }, (o) => weighted(o as { weights: number[] })),
  'ip-hash': builtin('ip-hash', 'primary', { vnodes: { type: 'number', value: 'N' } }, (o) => ipHash(o as { vnodes?: number })),
  shared: builtin('shared', 'shared', {}, () => sharedHandle()),
  'balanced-shared': builtin('balanced-shared', 'shared', { tolerance: { type: 'number', value: 'F' }, slack: { type: 'number', value: 'N' }, busyAfter: MS }, (o) =>
    balancedShared(o as { tolerance?: number; slack?: number; busyAfter?: number }),
  ),
  reuseport: builtin('reuseport', 'reuseport', {}, () => reusePort()),
} as const satisfies Record<string, BuiltinPolicy>);

/** The name of a built-in policy: a key of {@link builtinPolicies}. */
export type BuiltinPolicyName = keyof typeof builtinPolicies;

/** True when `name` names a built-in policy. */
export function isBuiltinPolicy(name: string): name is BuiltinPolicyName {
  return Object.hasOwn(builtinPolicies, name);
}

/**
 * How a usage line shows a built-in policy and its options: `round-robin`, `peak-ewma[:decay=MS]`,
 * `weighted:weights=3,1`, `balanced-shared[:tolerance=F,slack=N,busyAfter=MS]`.
 */
export function builtinPolicyUsage(name: BuiltinPolicyName): string {
  const options = Object.entries(builtinPolicies[name].options);
  if (options.length === 0) return name;
  const list = options.map(([key, o]) => `${key}=${o.value}`).join(',');
  return options.some(([, o]) => o.required === true) ? `${name}:${list}` : `${name}[:${list}]`;
}
