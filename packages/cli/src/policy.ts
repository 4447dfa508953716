import { balancedShared, ipHash, leastConnections, peakEwma, powerOfTwoChoices, random, reusePort, roundRobin, sharedHandle, weighted, type Policy } from '@handoff/policies';
import { CliErrorCode, HandoffCliError } from './errors.js';
import { didYouMean } from './suggest.js';

type Options = Record<string, unknown>;

/** Every built-in policy by the name `--policy` takes, with the options each accepts. */
export const POLICIES: Readonly<Record<string, { readonly options: readonly string[]; create(options: Options): Policy }>> = {
  'round-robin': { options: [], create: () => roundRobin() },
  'least-connections': { options: [], create: () => leastConnections() },
  'power-of-two-choices': { options: [], create: () => powerOfTwoChoices() },
  random: { options: [], create: () => random() },
  'peak-ewma': { options: ['decay'], create: (o) => peakEwma(o as { decay?: number }) },
  weighted: { options: ['weights'], create: (o) => weighted({ weights: [o.weights].flat() as number[] }) },
  'ip-hash': { options: ['vnodes'], create: (o) => ipHash(o as { vnodes?: number }) },
  shared: { options: [], create: () => sharedHandle() },
  'balanced-shared': { options: ['tolerance', 'slack', 'busyAfter'], create: (o) => balancedShared(o as { tolerance?: number; slack?: number; busyAfter?: number }) },
  reuseport: { options: [], create: () => reusePort() },
};

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
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where} must be a policy name (${Object.keys(POLICIES).join(', ')}), { name, ...options } or a policy object`);
  }
  const entry = POLICIES[name];
  if (entry === undefined) {
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: unknown policy ${JSON.stringify(name)}${didYouMean(name, Object.keys(POLICIES))} (one of ${Object.keys(POLICIES).join(', ')})`);
  }
  for (const key of Object.keys(options)) {
    if (!entry.options.includes(key)) {
      const known = entry.options.length === 0 ? 'it takes none' : `it takes ${entry.options.join(', ')}`;
      throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: policy ${name} has no option ${JSON.stringify(key)}${didYouMean(key, entry.options)} (${known})`);
    }
  }
  try {
    return entry.create(options);
  } catch (error) {
    throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where}: ${(error as Error).message}`, { cause: error });
  }
}
