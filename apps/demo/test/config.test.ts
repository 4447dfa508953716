import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { builtinPolicies } from '@handoff/policies';
import { ConfigError, policyFor, readConfig } from '../src/config.js';

const NAMES = Object.keys(builtinPolicies) as Array<keyof typeof builtinPolicies>;

describe('demo config', () => {
  it('takes every built-in policy by its name, in POLICY and --policy, and each builds the policy of that name and mode', () => {
    expect(NAMES.length).toBeGreaterThanOrEqual(10);
    for (const name of NAMES) {
      for (const config of [readConfig([], { POLICY: name }), readConfig(['--policy', name], {})]) {
        expect(config.policy).toBe(name);
        const policy = policyFor(config);
        expect(policy.name).toBe(name);
        expect(policy.mode).toBe(builtinPolicies[name].mode);
      }
    }
  });

  it('documents every built-in policy in its README', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of NAMES) expect(readme).toContain(`\`${name}\``);
  });

  it('takes --policy over POLICY, and defaults to round-robin', () => {
    expect(readConfig(['--policy', 'ip-hash'], { POLICY: 'random' }).policy).toBe('ip-hash');
    expect(readConfig([], {}).policy).toBe('round-robin');
  });

  it('rejects an unknown policy, listing the known ones', () => {
    expect(() => readConfig([], { POLICY: 'fastest' })).toThrow(ConfigError);
    expect(() => readConfig([], { POLICY: 'fastest' })).toThrow(/least-connections.*reuseport/);
  });

  it('weighted: WEIGHTS by slot, default workers..1', () => {
    expect(readConfig([], { POLICY: 'weighted', WORKERS: '3' }).weights).toEqual([3, 2, 1]);
    expect(readConfig(['--policy', 'weighted', '--weights', '3, 1'], {}).weights).toEqual([3, 1]);
    expect(readConfig([], { POLICY: 'weighted', WEIGHTS: '5,1', WORKERS: '4' }).weights).toEqual([5, 1]);
    const policy = policyFor(readConfig([], { POLICY: 'weighted', WEIGHTS: '3,1' }));
    const view = (slot: number) => ({ id: slot + 1, slot, weight: 1, connections: 0, inFlight: 0, requests: 0, eventLoopDelay: 0, readySince: 0, reportedAt: 0 });
    const workers = [view(0), view(1)];
    const info = { listener: 0, remoteAddress: undefined, remotePort: undefined, family: undefined };
    expect(Array.from({ length: 8 }, () => policy.mode === 'primary' && policy.pick(workers, info)?.slot)).toEqual([0, 0, 1, 0, 0, 0, 1, 0]);
  });

  it('rejects bad weights with a ConfigError', () => {
    for (const WEIGHTS of ['', 'a,b', '1,0', '-1', '1,2,3']) expect(() => readConfig([], { POLICY: 'weighted', WEIGHTS, WORKERS: '2' })).toThrow(ConfigError);
    expect(() => readConfig(['--weights', '1,2'], { POLICY: 'round-robin' })).toThrow(/weighted only/);
  });
});
