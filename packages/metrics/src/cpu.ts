import { readFile } from 'node:fs/promises';

/** Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on every Linux build that matters). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) a process has used, read from `/proc/<pid>/stat` at scrape time
 * (Linux); `undefined` elsewhere or once it is gone. Nothing is sampled between scrapes.
 */
export async function cpuSeconds(pid: number): Promise<number | undefined> {
  if (process.platform !== 'linux' || pid <= 0) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, in parentheses): utime is 14th, stime 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}
