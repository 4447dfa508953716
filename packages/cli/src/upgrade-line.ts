/** Upgrades of a line of primaries, by outcome (what `/metrics` counts in `handoff_upgrades_total`). */
export interface UpgradeTally {
  readonly success: number;
  readonly failure: number;
  readonly refused: number;
}

/** What a new primary is told of its line (`Handover`'s fields). */
export interface LineHandover {
  readonly generation: number;
  readonly upgrades?: UpgradeTally;
}

/**
 * Where a primary stands in its line of upgrades: its generation, and the upgrades counted by every
 * primary of the line. A new primary starts from what its predecessor handed it, plus its own
 * upgrade, which went through if it serves: so the counts run on across primaries, a SIGKILLed
 * predecessor's included (it handed them over when it started this one).
 */
export class UpgradeLine {
  readonly generation: number;
  private readonly tally: { success: number; failure: number; refused: number };

  constructor(handover: LineHandover | undefined) {
    this.generation = handover?.generation ?? 1;
    const before = handover?.upgrades;
    const n = (x: unknown): number => (typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : 0);
    this.tally = handover === undefined ? { success: 0, failure: 0, refused: 0 } : { success: n(before?.success) + 1, failure: n(before?.failure), refused: n(before?.refused) };
  }

  /** Counts one upgrade of this primary by its outcome. */
  count(outcome: keyof UpgradeTally): void {
    this.tally[outcome]++;
  }

  /** The new primary: the counts its predecessor ended with (it counted after it handed them over). */
  adopt(final: unknown): void {
    const f = final as Partial<Record<keyof UpgradeTally, unknown>> | null;
    for (const k of ['success', 'failure', 'refused'] as const) {
      const x = f?.[k];
      if (typeof x === 'number' && Number.isInteger(x) && x >= this.tally[k]) this.tally[k] = x;
    }
  }

  /** The counts so far (what `/metrics` reads, and what the next primary is handed). */
  counts(): UpgradeTally & { readonly generation: number } {
    return { generation: this.generation, ...this.tally };
  }
}
