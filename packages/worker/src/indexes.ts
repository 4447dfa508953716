import type { ServedServer } from './served.js';

/**
 * Drop-in mode: how many of the app's open servers asked for each address, counted as
 * `node:cluster`'s workers count them (lib/internal/cluster/child.js, `indexes`). The n-th open
 * server on an address gets index n, and the primary keys its listeners by address and index: the
 * n-th `listen(0)` of every worker shares one port, distinct from the (n+1)-th. An index is taken
 * until its server closes; the count of an address starts over once none of its servers is open.
 */
export class ListenIndexes {
  private readonly byKey = new Map<string, { next: number; readonly taken: Set<number> }>();
  private readonly held = new Map<ServedServer, { readonly key: string; readonly index: number }>();

  /** `served` asks for the address `key`: its index (any it held before is given back first). */
  take(served: ServedServer, key: string): number {
    this.free(served);
    let set = this.byKey.get(key);
    if (set === undefined) {
      set = { next: 0, taken: new Set() };
      this.byKey.set(key, set);
    }
    const index = set.next++;
    set.taken.add(index);
    this.held.set(served, { key, index });
    return index;
  }

  /** `served` closed, or its listen() failed: its index is given back. */
  free(served: ServedServer): void {
    const held = this.held.get(served);
    if (held === undefined) return;
    this.held.delete(served);
    const set = this.byKey.get(held.key);
    if (set === undefined) return;
    set.taken.delete(held.index);
    if (set.taken.size === 0) this.byKey.delete(held.key);
  }
}
