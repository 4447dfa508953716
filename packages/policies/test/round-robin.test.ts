import { describe, expect, it } from 'vitest';
import { roundRobin, type ConnectionInfo, type WorkerView } from '@handoff/policies';

const info: ConnectionInfo = { listener: 0, remoteAddress: undefined, remotePort: undefined, family: undefined };
const view = (id: number): WorkerView => ({ id, slot: id - 1, weight: 1, connections: 0, inFlight: 0, requests: 0, eventLoopDelay: 0, readySince: 0, reportedAt: 0 });

describe('roundRobin', () => {
  it('cycles over the workers in id order', () => {
    const policy = roundRobin();
    const workers = [view(1), view(2), view(3)];
    const picks = Array.from({ length: 9 }, () => policy.pick(workers, info)?.id);
    expect(picks).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 3]);
  });

  it('stays fair while the list changes: a joiner takes its turn, a leaver is skipped', () => {
    const policy = roundRobin();
    let workers = [view(1), view(3)];
    expect(policy.pick(workers, info)?.id).toBe(1);
    workers = [view(1), view(2), view(3)]; // 2 joins after 1 was picked: its turn comes next
    expect([policy.pick(workers, info)?.id, policy.pick(workers, info)?.id, policy.pick(workers, info)?.id]).toEqual([2, 3, 1]);
    workers = [view(1), view(3)]; // 2 leaves while it is next
    expect([policy.pick(workers, info)?.id, policy.pick(workers, info)?.id]).toEqual([3, 1]);
  });

  it('gives every worker the same count over whole cycles whatever the changes', () => {
    const policy = roundRobin();
    const counts = new Map<number, number>();
    let workers = [view(1), view(2), view(3), view(4)];
    for (let i = 0; i < 400; i++) {
      const id = policy.pick(workers, info)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100, 100]);
    workers = [view(2), view(4), view(5)];
    counts.clear();
    for (let i = 0; i < 300; i++) {
      const id = policy.pick(workers, info)!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ 2: 100, 4: 100, 5: 100 });
  });

  it('returns undefined for an empty list', () => {
    expect(roundRobin().pick([], info)).toBeUndefined();
  });
});
