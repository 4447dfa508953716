import { invalidOption } from './errors.js';
import type { ConnectionInfo, PrimaryPolicy, WorkerView } from './types.js';

/** Options of {@link ipHash}. */
export interface IpHashOptions {
  /**
   * Points each worker has on the hash ring (default 160). More points even out the spread (the
   * busiest of 8 workers is about 10% above the mean at 160) at the cost of a larger ring, rebuilt
   * only when the set of slots changes. An integer in 1..4096.
   */
  readonly vnodes?: number;
}

/** FNV-1a over the string's UTF-16 code units, then murmur3's finalizer to spread the bits. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Sticky sessions by client address: the address is hashed onto a consistent-hash ring on which
 * each worker slot owns `vnodes` points, and the connection goes to the owner of the next point.
 * The ring is keyed by slot, not by worker id, so a replacement (after a crash or during a reload)
 * takes over exactly the addresses of the worker it replaces; adding or removing one worker of N
 * moves about 1/N of the addresses, not all of them. Choose it when a client must keep reaching the
 * same worker (in-process sessions or caches, WebSocket fallbacks that reconnect). Misbehaves
 * behind a proxy or NAT, where many clients share one address and so one worker (use the PROXY
 * protocol so the real address is seen), and it ignores load. Without an address (Unix sockets) it
 * falls back to turns by id.
 * Cost: one hash of the address and a binary search of the ring per connection; the primary reads
 * the peer's address (`needsRemoteAddress`).
 */
export function ipHash(options: IpHashOptions = {}): PrimaryPolicy {
  const vnodes = options.vnodes ?? 160;
  if (!Number.isInteger(vnodes) || vnodes < 1 || vnodes > 4096) throw invalidOption('ipHash', 'vnodes', 'an integer in 1..4096', vnodes);

  let seen: readonly WorkerView[] | undefined;
  let seenIds = '';
  /** Ring points, ascending, and the slot owning each. */
  let points = new Uint32Array(0);
  let owners = new Int32Array(0);
  /** Index in the view of the worker holding each slot (the newest, when two share one). */
  let bySlot: number[] = [];
  let ringSlots = '';
  let lastId = -1;

  const rebuild = (workers: readonly WorkerView[], ids: string): void => {
    seen = workers;
    seenIds = ids;
    bySlot = [];
    const slots: number[] = [];
    for (let i = 0; i < workers.length; i++) {
      const slot = workers[i]!.slot;
      if (bySlot[slot] === undefined) slots.push(slot);
      bySlot[slot] = i; // ascending ids: the newest worker of a slot wins
    }
    slots.sort((a, b) => a - b);
    const key = slots.join(',');
    if (key === ringSlots) return;
    ringSlots = key;
    const entries: Array<[number, number]> = [];
    for (const slot of slots) for (let v = 0; v < vnodes; v++) entries.push([hashString(`slot-${slot}#${v}`), slot]);
    // Ties (rare) break by slot so the ring does not depend on insertion order.
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    points = Uint32Array.from(entries, (e) => e[0]);
    owners = Int32Array.from(entries, (e) => e[1]);
  };

  const idsOf = (workers: readonly WorkerView[]): string => {
    let s = '';
    for (let i = 0; i < workers.length; i++) s += `${workers[i]!.id}:${workers[i]!.slot},`;
    return s;
  };

  return {
    mode: 'primary',
    name: 'ip-hash',
    needsRemoteAddress: true,
    pick(workers: readonly WorkerView[], info: ConnectionInfo): WorkerView | undefined {
      const n = workers.length;
      if (n === 0) return undefined;
      // The orchestrator hands the same array until the set changes; anything else is checked.
      if (workers !== seen) {
        const ids = idsOf(workers);
        if (ids !== seenIds || seen === undefined) rebuild(workers, ids);
        else seen = workers;
      }
      const address = info?.remoteAddress;
      if (address === undefined || address === '') {
        let chosen = workers[0]!;
        for (let i = 0; i < n; i++) {
          if (workers[i]!.id > lastId) {
            chosen = workers[i]!;
            break;
          }
        }
        lastId = chosen.id;
        return chosen;
      }
      const h = hashString(address);
      const found = lookup(workers, h);
      if (found !== undefined) return found;
      // The array was edited in place since the ring was built: rebuild, then look up again.
      rebuild(workers, idsOf(workers));
      return lookup(workers, h);
    },
  };

  /** The worker owning the first ring point >= h (wrapping), or undefined if the view disagrees. */
  function lookup(workers: readonly WorkerView[], h: number): WorkerView | undefined {
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    const slot = owners[lo === points.length ? 0 : lo]!;
    const at = bySlot[slot];
    const w = at === undefined ? undefined : workers[at];
    return w !== undefined && w.slot === slot ? w : undefined;
  }
}
