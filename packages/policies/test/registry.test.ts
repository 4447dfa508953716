import { describe, expect, it } from 'vitest';
import * as exported from '@handoff/policies';
import { builtinPolicies, builtinPolicyUsage, HandoffPolicyError, isBuiltinPolicy, PolicyErrorCode, type BuiltinPolicyName, type Policy } from '@handoff/policies';

const names = Object.keys(builtinPolicies) as BuiltinPolicyName[];

/** The options a built-in cannot be made without, at a valid value. */
function required(name: BuiltinPolicyName): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const [key, o] of Object.entries(builtinPolicies[name].options)) if (o.required === true) given[key] = o.type === 'numbers' ? [3, 1] : 1;
  return given;
}

describe('builtinPolicies', () => {
  it('makes, by each name, the policy of that name and of the mode it says', () => {
    for (const name of names) {
      const policy = builtinPolicies[name].create(required(name));
      expect(policy.name).toBe(name);
      expect(policy.mode).toBe(builtinPolicies[name].mode);
      expect(isBuiltinPolicy(name)).toBe(true);
    }
    expect(isBuiltinPolicy('fastest')).toBe(false);
    expect(isBuiltinPolicy('toString')).toBe(false);
  });

  it('lists every policy factory the package exports (a new one must be registered)', () => {
    const made = new Set<string>();
    for (const [key, value] of Object.entries(exported)) {
      if (typeof value !== 'function' || !/^[a-z]/.test(key)) continue;
      for (const args of [[], [{ weights: [1] }]]) {
        try {
          const policy = (value as (...a: unknown[]) => unknown)(...args) as Policy | undefined;
          if (typeof policy === 'object' && policy !== null && typeof policy.name === 'string' && typeof policy.mode === 'string') made.add(policy.name);
          break;
        } catch {
          // Needs options (or is no factory): try the next shape.
        }
      }
    }
    expect([...made].sort()).toEqual([...names].sort());
  });

  it('takes each option it lists, a list from one number too, and refuses any other with a typed error', () => {
    expect(builtinPolicies['ip-hash'].create({ vnodes: 32 }).name).toBe('ip-hash');
    expect(builtinPolicies['balanced-shared'].create({ tolerance: 0.1, slack: 2, busyAfter: 3 })).toMatchObject({ balance: { tolerance: 0.1, slack: 2, busyAfter: 3 } });
    expect(builtinPolicies.weighted.create({ weights: 2 }).name).toBe('weighted');
    const bad = (() => {
      try {
        builtinPolicies['round-robin'].create({ vnodes: 3 });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(bad).toBeInstanceOf(HandoffPolicyError);
    expect((bad as HandoffPolicyError).code).toBe(PolicyErrorCode.INVALID_OPTION);
    expect((bad as Error).message).toMatch(/round-robin has no option "vnodes" \(it takes none\)/);
    expect(() => builtinPolicies['ip-hash'].create({ vnode: 3 })).toThrow(/it takes vnodes/);
    // Values are the factory's to check.
    expect(() => builtinPolicies['ip-hash'].create({ vnodes: 0 })).toThrow(HandoffPolicyError);
    expect(() => builtinPolicies.weighted.create({})).toThrow(HandoffPolicyError);
  });

  it('shows each with its options for usage lines', () => {
    expect(names.map(builtinPolicyUsage).join(', ')).toBe(
      'round-robin, least-connections, power-of-two-choices, peak-ewma[:decay=MS], random, weighted:weights=3,1, ip-hash[:vnodes=N], shared, balanced-shared[:tolerance=F,slack=N,busyAfter=MS], reuseport',
    );
  });

  it('is frozen: nobody adds to it or changes an entry at run time', () => {
    expect(Object.isFrozen(builtinPolicies)).toBe(true);
    for (const name of names) expect(Object.isFrozen(builtinPolicies[name]) && Object.isFrozen(builtinPolicies[name].options)).toBe(true);
  });
});
