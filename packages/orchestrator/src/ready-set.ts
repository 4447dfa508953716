import type { WorkerProcess } from './worker-process.js';

/**
 * The workers policies may pick from: ready ones, ascending id, rebuilt only when the set changes
 * (a pick reads it per connection). In drop-in mode also per listener: only the workers whose app
 * bound that listener, cached until a worker binds or unbinds one.
 */
export class ReadySet {
  private ready: WorkerProcess[] = [];
  private readonly byListener = new Map<number, WorkerProcess[]>();

  /** @param perListener drop-in mode: each worker takes only the listeners its app bound. */
  constructor(private readonly perListener: boolean) {}

  /** Every ready worker, ascending id. */
  get all(): readonly WorkerProcess[] {
    return this.ready;
  }

  /** The ready workers that take connections of `listener` (the dispatcher's view). */
  readonly forListener = (listener: number): readonly WorkerProcess[] => {
    if (!this.perListener) return this.ready;
    let workers = this.byListener.get(listener);
    if (workers === undefined) {
      workers = this.ready.filter((w) => w.dropInListeners.has(listener));
      this.byListener.set(listener, workers);
    }
    return workers;
  };

  includes(worker: WorkerProcess): boolean {
    return this.ready.includes(worker);
  }

  /** A worker became ready or left: rebuilds the set from `workers`. */
  rebuild(workers: Iterable<WorkerProcess>): void {
    this.byListener.clear();
    const ready: WorkerProcess[] = [];
    for (const w of workers) if (w.state === 'ready') ready.push(w);
    ready.sort((a, b) => a.id - b.id);
    this.ready = ready;
  }

  /** Drop-in mode: a worker bound or unbound a listener. */
  listenersChanged(): void {
    this.byListener.clear();
  }
}
