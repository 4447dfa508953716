import { RecentEvents, restartDelay } from './backoff.js';
import type { ResolvedOptions } from './options.js';
import type { WorkerProcess } from './worker-process.js';

/** A place in the pool: when its worker goes unexpectedly, a new one takes the slot. Written by `Slots` only. */
export interface Slot {
  /** 0..n-1: the stable `HANDOFF_INSTANCE` of every worker in this slot. */
  readonly index: number;
  /** The worker in it (see `Slots.occupy`). */
  readonly worker: WorkerProcess | undefined;
  readonly restarts: number;
  readonly crashes: RecentEvents;
  /** False once the slot was removed (scale down): its exits are not replaced. */
  readonly active: boolean;
}

/** A slot as `Slots` keeps it. */
interface OwnSlot {
  readonly index: number;
  worker: WorkerProcess | undefined;
  restarts: number;
  readonly crashes: RecentEvents;
  respawnTimer: NodeJS.Timeout | undefined;
  active: boolean;
}

/** A crash loop, reported once per loop. */
export interface CrashLoop {
  readonly crashes: number;
  readonly windowMs: number;
  readonly nextDelayMs: number;
}

/**
 * The pool's slots and when to refill them: a slot whose worker crashed (or retired, see
 * Supervisor) gets a new one after a backoff that doubles with the slot's recent crashes; crashes of
 * the whole pool within the window past the count are a crash loop, reported once.
 */
export class Slots {
  private readonly slots: OwnSlot[] = [];
  private readonly allCrashes: RecentEvents;
  private inCrashLoop = false;
  private refilling = true;

  constructor(
    private readonly restart: ResolvedOptions['restart'],
    private readonly onCrashLoop: (loop: CrashLoop) => void,
  ) {
    this.allCrashes = new RecentEvents(restart.crashLoopWindow);
  }

  /** Active slots. */
  get activeCount(): number {
    return this.slots.filter((s) => s.active).length;
  }

  of(worker: WorkerProcess): Slot {
    return this.slots[worker.slot]!;
  }

  /** A slot for a new worker: the lowest one a scale down freed, else a new one (so active slots are 0..n-1). */
  add(): Slot {
    const free = this.slots.find((s) => !s.active);
    if (free !== undefined) {
      free.active = true;
      free.restarts = 0;
      return free;
    }
    const slot: OwnSlot = { index: this.slots.length, worker: undefined, restarts: 0, crashes: new RecentEvents(this.restart.crashLoopWindow), respawnTimer: undefined, active: true };
    this.slots.push(slot);
    return slot;
  }

  /** `worker` is the slot's now: forked into it, or kept in it when its replacement failed. */
  occupy(slot: Slot, worker: WorkerProcess): void {
    this.slots[slot.index]!.worker = worker;
  }

  /** Deactivates the newest active slot; returns its worker (the caller drains it). */
  removeNewest(): WorkerProcess | undefined {
    for (let i = this.slots.length - 1; i >= 0; i--) {
      const slot = this.slots[i]!;
      if (!slot.active) continue;
      slot.active = false;
      this.cancel(slot);
      return slot.worker;
    }
    return undefined;
  }

  /**
   * `worker` left its slot unexpectedly (a crash, or `retired` when it stopped taking connections on
   * its own): schedules `spawn` into the slot after the backoff, unless the slot or the pool no
   * longer wants one. A worker refused for its protocol version waits the longest delay: the same
   * files would fork the same worker again.
   */
  refill(worker: WorkerProcess, how: 'crashed' | 'retired', spawn: (slot: Slot) => void): void {
    const slot = this.slots[worker.slot]!;
    if (!slot.active || !this.refilling || slot.worker !== worker) return;
    slot.restarts++;
    const slotCrashes = slot.crashes.record();
    const delay = worker.refusal !== undefined ? this.restart.maxDelay : restartDelay(slotCrashes, this.restart.initialDelay, this.restart.maxDelay);
    if (how === 'crashed') this.countCrash(delay);
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = undefined;
      if (slot.active && this.refilling && slot.worker === worker) spawn(slot);
    }, delay);
  }

  /** The pool is closing: no slot is refilled from now on. */
  stopRefilling(): void {
    this.refilling = false;
    for (const slot of this.slots) this.cancel(slot);
  }

  private countCrash(delay: number): void {
    const crashes = this.allCrashes.record();
    if (crashes < this.restart.crashLoopCount) {
      this.inCrashLoop = false;
      return;
    }
    if (this.inCrashLoop) return;
    this.inCrashLoop = true;
    this.onCrashLoop({ crashes, windowMs: this.restart.crashLoopWindow, nextDelayMs: delay });
  }

  private cancel(slot: OwnSlot): void {
    if (slot.respawnTimer !== undefined) clearTimeout(slot.respawnTimer);
    slot.respawnTimer = undefined;
  }
}
