import { builtinPolicies, builtinPolicyUsage, isBuiltinPolicy, type BuiltinPolicyName, type Policy } from '@handoff/policies';
import { CliErrorCode, HandoffCliError } from './errors.js';
import { didYouMean } from './suggest.js';

type Options = Record<string, unknown>;

const NAMES = Object.keys(builtinPolicies) as BuiltinPolicyName[];

/**
 * What `--policy` takes, for `--help` and errors: every built-in of `@handoff/policies` with its
 * options, but `reuseport` (`handoff start` runs apps in drop-in mode: modes primary and shared).
 */
export function policyUsage(): string {
  return NAMES.filter((name) => builtinPolicies[name].mode !== 'reuseport')
    .map(builtinPolicyUsage)
    .join(', ');
}

/** The number, or list of numbers, that a policy option's text says. */
function optionValue(raw: string): unknown {
  const parts = raw.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '' || Number.isNaN(Number(p)))) return raw;
  const numbers = parts.map(Number);
  return numbers.length > 1 ? numbers : numbers[0];
}

/**
 * Reads `NAME` or `NAME:key=value,key=value` (`weighted:weights=3,1`, `balanced-shared:tolerance=0.1`).
 * A value may hold commas (a list): a segment without `=` belongs to the value before it.
 */
export function parsePolicySpec(spec: string, where: string): { name: string; options: Options } {
  const colon = spec.indexOf(':');
  const name = (colon === -1 ? spec : spec.slice(0, colon)).trim();
  const options: Options = {};
  if (colon !== -1) {
    const pairs: string[] = [];
    for (const segment of spec.slice(colon + 1).split(',')) {
      if (segment.includes('=') || pairs.length === 0) pairs.push(segment);
      else pairs[pairs.length - 1] += `,${segment}`;
    }
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: policy options are key=value pairs (weighted:weights=3,1), got ${JSON.stringify(pair)}`);
      options[pair.slice(0, eq).trim()] = optionValue(pair.slice(eq + 1));
    }
  }
  return { name, options };
}

/**
 * The policy a flag or config value names: a string (`'least-connections'`, `'weighted:weights=3,1'`),
 * `{ name, ...options }`, or a policy object itself (from `@handoff/policies` or your own).
 */
export function resolvePolicy(value: unknown, where: string): Policy {
  if (typeof value === 'object' && value !== null && typeof (value as { mode?: unknown }).mode === 'string') return value as Policy;
  let name: string;
  let options: Options;
  if (typeof value === 'string') ({ name, options } = parsePolicySpec(value, where));
  else if (typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string') {
    ({ name, ...options } = value as { name: string });
  } else {
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where} must be a policy name (${NAMES.join(', ')}), { name, ...options } or a policy object`);
  }
  if (!isBuiltinPolicy(name)) {
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: unknown policy ${JSON.stringify(name)}${didYouMean(name, NAMES)} (one of ${NAMES.join(', ')})`);
  }
  const entry = builtinPolicies[name];
  const known = Object.keys(entry.options);
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const takes = known.length === 0 ? 'it takes none' : `it takes ${known.join(', ')}`;
      throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: policy ${name} has no option ${JSON.stringify(key)}${didYouMean(key, known)} (${takes})`);
    }
  }
  try {
    return entry.create(options);
  } catch (error) {
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: ${(error as Error).message}`, { cause: error });
  }
}
