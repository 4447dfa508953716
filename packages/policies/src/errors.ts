/**
 * The error a policy factory throws for a bad option. `@handoff/policies` depends on nothing, so it
 * defines its own class; it carries the same `Symbol.for('handoff.error')` brand as
 * `@handoff/protocol`'s `HandoffError`, so `error instanceof HandoffError` holds for it too.
 */

const kHandoffError = Symbol.for('handoff.error');

/** Codes of {@link HandoffPolicyError}. */
export const PolicyErrorCode = {
  /** A policy factory was given an option it cannot use (a negative weight, a zero `vnodes`, …). */
  INVALID_OPTION: 'HANDOFF_ERR_INVALID_POLICY_OPTION',
} as const;

/** One of the values of {@link PolicyErrorCode}. */
export type PolicyErrorCode = (typeof PolicyErrorCode)[keyof typeof PolicyErrorCode];

/** A bad policy option. Switch on `code`, never on `message`. */
export class HandoffPolicyError extends Error {
  /** A stable identifier: `HANDOFF_ERR_INVALID_POLICY_OPTION`. */
  readonly code: PolicyErrorCode;

  constructor(code: PolicyErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = 'HandoffPolicyError';
    Object.defineProperty(this, kHandoffError, { value: true });
  }
}

/** Internal: the error for option `name` of `factory`, which must be `expected`. */
export function invalidOption(factory: string, name: string, expected: string, got: unknown): HandoffPolicyError {
  const shown = typeof got === 'number' || typeof got === 'boolean' || got === undefined || got === null ? String(got) : (JSON.stringify(got) ?? String(got));
  return new HandoffPolicyError(PolicyErrorCode.INVALID_OPTION, `${factory}(): ${name} must be ${expected}, got ${shown}`);
}

/** Internal: throws for the first key of `options` that is not one of `known` (a typo must not pass as a default). */
export function checkOptionNames(factory: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new HandoffPolicyError(PolicyErrorCode.INVALID_OPTION, `${factory}(): ${key} is not an option (use ${known.join(', ')})`);
  }
}

/** Internal: validates the `random` option every randomized policy takes. */
export function randomOption(factory: string, random: unknown): () => number {
  if (random === undefined) return Math.random;
  if (typeof random !== 'function') throw invalidOption(factory, 'random', 'a function returning a number in [0, 1)', random);
  return random as () => number;
}
