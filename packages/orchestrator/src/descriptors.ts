import { readdirSync, readFileSync } from 'node:fs';

/** How often the limit and the open descriptors are read again, in ms. */
const SAMPLE_MS = 1000;

/**
 * Descriptors kept free for everything but connections: forking a replacement (its pipes), the
 * 503 answers, a log file. Past this, a new connection is answered 503 at once instead of the
 * primary running into EMFILE, where the OS can only close connections unanswered.
 */
export const DESCRIPTOR_RESERVE = 32;

/** The soft RLIMIT_NOFILE of this process (Linux: /proc/self/limits), or Infinity where unknown. */
function softLimit(): number {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const value = line === null ? Number.NaN : Number(line[1]);
    return Number.isFinite(value) ? value : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function openCount(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    // Out of descriptors to read the directory with: no new sample; the last one stands.
    return undefined;
  }
}

/**
 * The primary's descriptor budget: are the connections it holds (accepted, not yet taken by a
 * worker) about to exhaust its RLIMIT_NOFILE? The limit and the open count are sampled once a
 * second (a `prlimit --pid` in between is seen); between samples the dispatcher tells it of each
 * connection it takes and lets go, so a burst is counted as it comes.
 */
export class DescriptorBudget {
  private limit = Number.POSITIVE_INFINITY;
  /** Open descriptors at the last sample, and `held` then. */
  private open = 0;
  private heldAtSample = 0;
  private held = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly reserve = DESCRIPTOR_RESERVE) {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS).unref();
  }

  private sample(): void {
    this.limit = softLimit();
    if (this.limit === Number.POSITIVE_INFINITY) return;
    const open = openCount();
    if (open === undefined) return;
    this.open = open;
    this.heldAtSample = this.held;
  }

  /** A connection was accepted into the primary. */
  took(): void {
    this.held++;
  }

  /** `count` connections left the primary (a worker took them, or they were answered and closed). */
  released(count: number): void {
    this.held -= count;
  }

  /** True when one more held connection would eat into the reserve. */
  get exhausted(): boolean {
    return this.open + (this.held - this.heldAtSample) + this.reserve >= this.limit;
  }

  close(): void {
    clearInterval(this.timer);
  }
}
