import { parseArgs } from 'node:util';
import { builtinPolicies, isBuiltinPolicy, type BuiltinPolicyName, type Policy } from '@handoff/policies';

/** The demo's settings, from flags first, then the environment, then defaults. */
export interface DemoConfig {
  readonly port: number;
  readonly host: string;
  readonly workers: number;
  readonly policy: string;
  /**
   * Weights by worker slot for `POLICY=weighted` (`WEIGHTS` / `--weights`, comma-separated).
   * Default: `workers, workers - 1, …, 1`, so the first worker takes the most and the spread shows.
   */
  readonly weights: readonly number[];
}

/**
 * The policy `config` names (the demo knows every built-in of `@handoff/policies`, by its name), with
 * the demo's weights where it takes them (`weighted`).
 */
export function policyFor(config: DemoConfig): Policy {
  const entry = builtinPolicies[config.policy as BuiltinPolicyName];
  return entry.create('weights' in entry.options ? { weights: config.weights } : {});
}

/** Thrown for a bad setting; the demo prints its message and exits with code 2. */
export class ConfigError extends Error {}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function weightList(raw: string, workers: number): number[] {
  const weights = raw.split(',').map((s) => Number(s.trim()));
  if (raw.trim() === '' || weights.some((w) => !Number.isFinite(w) || w <= 0)) {
    throw new ConfigError(`WEIGHTS must be positive numbers separated by commas, one per worker (e.g. 3,1), got ${JSON.stringify(raw)}`);
  }
  if (weights.length > workers) throw new ConfigError(`WEIGHTS has ${weights.length} weights for ${workers} workers; give at most one per worker`);
  return weights;
}

/** Reads the demo's settings from `argv` and `env`. */
export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): DemoConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      workers: { type: 'string', short: 'w' },
      policy: { type: 'string' },
      weights: { type: 'string' },
    },
    strict: true,
  });
  const policy = values.policy ?? env.POLICY ?? 'round-robin';
  if (!isBuiltinPolicy(policy)) throw new ConfigError(`unknown policy ${JSON.stringify(policy)}; choose one of: ${Object.keys(builtinPolicies).join(', ')}`);
  if (values.weights !== undefined && policy !== 'weighted') throw new ConfigError(`--weights applies to --policy weighted only (policy is ${policy})`);
  const workers = integer('WORKERS', values.workers ?? env.WORKERS ?? '2', 1, 1024);
  const rawWeights = values.weights ?? env.WEIGHTS;
  return {
    port: integer('PORT', values.port ?? env.PORT ?? '1337', 0, 65535),
    host: values.host ?? env.HOST ?? '127.0.0.1',
    workers,
    policy,
    weights: rawWeights === undefined ? Array.from({ length: workers }, (_, i) => workers - i) : weightList(rawWeights, workers),
  };
}
