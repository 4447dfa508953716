import { readFile } from 'node:fs/promises';

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on every Linux build that matters). */
const TICKS_PER_SECOND = 100;

/**
 * Samples each worker's CPU use from `/proc/<pid>/stat` (Linux) once per interval, so `status` can
 * say how busy each one is now (percent of one core over the last interval). Elsewhere it reports
 * `null`. Its timer never keeps the process alive.
 */
export class CpuSampler {
  private readonly last = new Map<number, { ticks: number; at: number; percent: number | null }>();
  private readonly timer: NodeJS.Timeout;
  private readonly supported = process.platform === 'linux';

  constructor(
    private readonly pids: () => readonly number[],
    interval = 1000,
  ) {
    this.timer = setInterval(() => void this.sample(), interval);
    this.timer.unref();
  }

  /** The last sampled CPU percent of `pid`, or `null` before two samples (or off Linux). */
  percent(pid: number): number | null {
    return this.last.get(pid)?.percent ?? null;
  }

  private async sample(): Promise<void> {
    if (!this.supported) return;
    const live = new Set(this.pids());
    for (const pid of this.last.keys()) if (!live.has(pid)) this.last.delete(pid);
    await Promise.all(
      [...live].map(async (pid) => {
        let stat: string;
        try {
          stat = await readFile(`/proc/${pid}/stat`, 'utf8');
        } catch {
          return;
        }
        // Fields after the command name (which may hold spaces, in parentheses): utime is 14th, stime 15th.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const ticks = Number(fields[11]) + Number(fields[12]);
        const at = Date.now();
        const before = this.last.get(pid);
        const percent = before === undefined || at === before.at ? null : Math.round(((ticks - before.ticks) / TICKS_PER_SECOND / ((at - before.at) / 1000)) * 1000) / 10;
        this.last.set(pid, { ticks, at, percent });
      }),
    );
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
