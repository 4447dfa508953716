import { parseArgs } from 'node:util';
import { roundRobin, sharedHandle, type Policy } from '@handoff/policies';

/** The demo's settings, from flags first, then the environment, then defaults. */
export interface DemoConfig {
  readonly port: number;
  readonly host: string;
  readonly workers: number;
  readonly policy: string;
}

/** Policies the demo knows, by the name `POLICY` / `--policy` takes. */
export const POLICIES: Readonly<Record<string, () => Policy>> = {
  'round-robin': roundRobin,
  shared: sharedHandle,
};

/** Thrown for a bad setting; the demo prints its message and exits with code 2. */
export class ConfigError extends Error {}

function integer(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  return n;
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
    },
    strict: true,
  });
  const policy = values.policy ?? env.POLICY ?? 'round-robin';
  if (!Object.hasOwn(POLICIES, policy)) throw new ConfigError(`unknown policy ${JSON.stringify(policy)}; choose one of: ${Object.keys(POLICIES).join(', ')}`);
  return {
    port: integer('PORT', values.port ?? env.PORT ?? '1337', 0, 65535),
    host: values.host ?? env.HOST ?? '127.0.0.1',
    workers: integer('WORKERS', values.workers ?? env.WORKERS ?? '2', 1, 1024),
    policy,
  };
}
