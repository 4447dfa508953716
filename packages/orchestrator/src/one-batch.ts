/** What the `oneInFlight` rule reads of a worker. */
export interface InFlightView {
  /** Connections sent to it and not yet acknowledged. */
  readonly inFlight: number;
  /** Of those, the ones that went in an earlier turn of the primary's event loop (its link's count). */
  readonly inFlightBeforeThisTurn: number;
}

/**
 * The workers a `oneInFlight` policy is offered: one batch in flight per worker. A worker is free
 * while nothing sent to it in an earlier turn is unacknowledged; what goes to it in this turn
 * leaves in one batch at the turn's end (native link), so a second connection costs it no message
 * and no acknowledgement of its own. It takes at most its fair share of this turn's connections
 * (those already placed in it, plus `waiting`), so a burst still spreads over the free workers,
 * and over the busy ones once they answer, instead of filling the first free one. Where every
 * connection travels alone (IPC: a link's two counts are equal), it is the old rule exactly:
 * free means nothing in flight. Some worker is always free when none has anything from an earlier
 * turn. Pure: reuses `out` and returns it (the policy must not keep it).
 *
 * @param waiting connections that want a worker now, the one being placed included (>= 1)
 */
export function offerOneBatch<W extends InFlightView>(workers: readonly W[], waiting: number, out: W[]): W[] {
  out.length = 0;
  const n = workers.length;
  if (n === 0) return out;
  let thisTurn = 0;
  for (let i = 0; i < n; i++) thisTurn += workers[i]!.inFlight - workers[i]!.inFlightBeforeThisTurn;
  const share = Math.ceil((thisTurn + Math.max(1, waiting)) / n);
  for (let i = 0; i < n; i++) {
    const w = workers[i]!;
    if (w.inFlightBeforeThisTurn === 0 && w.inFlight < share) out.push(w);
  }
  return out;
}
