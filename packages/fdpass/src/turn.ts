/**
 * The primary's event-loop turns, as the native links see them: a number that moves on once per
 * turn in which some link queued a connection. The addon's sender flushes what was queued at the
 * end of the turn (a check handle, `flushDelayUs: 0`), and Node runs `setImmediate` callbacks in
 * that same check phase, so one immediate per turn with sends marks the boundary; a turn without
 * sends costs nothing. Shared by every link of the process, so N workers cost one immediate a turn.
 */
let current = 1;
let ticking = false;

function tick(): void {
  ticking = false;
  current++;
}

/** The turn now. Two reads in one turn give the same number; any read after its end a greater one. */
export function currentTurn(): number {
  return current;
}

/** Something was queued in this turn: make sure the turn ends (the number moves on in its check phase). */
export function usedThisTurn(): number {
  if (!ticking) {
    ticking = true;
    setImmediate(tick);
  }
  return current;
}
