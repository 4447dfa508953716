/**
 * Delay before replacing a worker after its slot's `crashes`-th recent crash: exponential from
 * `initial`, capped at `max`, with "equal jitter" (half fixed, half random) so that workers that
 * crashed together do not all come back at the same instant.
 */
export function restartDelay(crashes: number, initial: number, max: number, random: () => number = Math.random): number {
  if (crashes <= 0) return 0;
  const exponential = Math.min(max, initial * 2 ** Math.min(crashes - 1, 30));
  return Math.round(exponential / 2 + (exponential / 2) * random());
}

/** Keeps the times of recent events and counts those within a window. */
export class RecentEvents {
  private readonly times: number[] = [];

  constructor(private readonly windowMs: number) {}

  /** Records an event at `now` and returns how many fall within the window. */
  record(now = Date.now()): number {
    this.times.push(now);
    return this.count(now);
  }

  /** Events within the window ending at `now`. */
  count(now = Date.now()): number {
    while (this.times.length > 0 && this.times[0]! <= now - this.windowMs) this.times.shift();
    return this.times.length;
  }
}
