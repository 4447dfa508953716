import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/** How many CPUs this process may use, and what limited it: what `workers: 'auto'` forks. */
export interface CpuCount {
  /** Whole CPUs, at least 1: the smallest of the affinity's and every cgroup quota's (rounded up). */
  readonly count: number;
  /** What set `count`: `'cgroup'` (a CPU quota) or `'affinity'` (`os.availableParallelism()`). */
  readonly source: 'cgroup' | 'affinity';
  /** The CPUs the scheduler lets it run on (`os.availableParallelism()`: affinity, else every online CPU). */
  readonly parallelism: number;
  /** The tightest CPU quota in CPUs (`quota / period`, not rounded), or undefined where none is set. */
  readonly quota: number | undefined;
  /** The cgroup file that set `quota` (`/sys/fs/cgroup/…/cpu.max`, or `cpu.cfs_quota_us` for v1). */
  readonly quotaFile: string | undefined;
}

/** Where `countCpus` looks: the filesystem root (fixtures in tests) and the affinity's count. */
export interface CpuCountSources {
  /** The folder that stands for `/`: `/proc/self/cgroup`, `/proc/self/mountinfo` and the mounts are read under it. @default '/' */
  readonly root?: string;
  /** @default os.availableParallelism() */
  readonly parallelism?: number;
}

/** A cgroup hierarchy this process is in: where it is mounted and the process's folder in it. */
interface Hierarchy {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** The process's cgroup folder, relative to the mount point ('' for the mount's own root). */
  readonly relative: string;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The hierarchies that can limit CPU: cgroup2 (where `cpu.max` lives) and v1's `cpu` controller.
 * A mount's root is the part of the process's cgroup path the mount hides (a container without a
 * cgroup namespace sees `/docker/<id>` in /proc/self/cgroup and its own cgroup as the mount's root);
 * a path outside the mount's root is unknown there, and the mount's root is what limits it.
 */
function hierarchies(root: string): Hierarchy[] {
  const membership = read(join(root, 'proc/self/cgroup'));
  const mountinfo = read(join(root, 'proc/self/mountinfo'));
  if (membership === undefined || mountinfo === undefined) return [];
  // "hierarchy-id:controllers:path"; v2 is "0::path".
  const paths = new Map<string, string>();
  for (const line of membership.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m === null) continue;
    if (m[1] === '0' && m[2] === '') paths.set('v2', m[3]!);
    else if (m[2]!.split(',').includes('cpu')) paths.set('v1', m[3]!);
  }
  const found: Hierarchy[] = [];
  for (const line of mountinfo.split('\n')) {
    // "id parent major:minor root mountpoint options [optional…] - fstype source superoptions"
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const fields = left.split(' ');
    const [fstype, , superOptions = ''] = right.split(' ');
    const mountRoot = unescape(fields[3] ?? '');
    const mountPoint = unescape(fields[4] ?? '');
    let path: string | undefined;
    let version: 1 | 2;
    if (fstype === 'cgroup2') {
      path = paths.get('v2');
      version = 2;
    } else if (fstype === 'cgroup' && superOptions.split(',').includes('cpu')) {
      path = paths.get('v1');
      version = 1;
    } else continue;
    if (path === undefined) continue;
    const inside = path === mountRoot || path.startsWith(mountRoot === '/' ? '/' : `${mountRoot}/`);
    const relative = inside ? path.slice(mountRoot === '/' ? 1 : mountRoot.length + 1) : '';
    found.push({ version, mountPoint, relative });
  }
  return found;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The quota in CPUs set in `folder`, or undefined where it has none (`max`, `-1`) or none is readable. */
function quotaIn(version: 1 | 2, folder: string): { cpus: number; file: string } | undefined {
  if (version === 2) {
    const file = join(folder, 'cpu.max');
    const [quota, period] = (read(file) ?? '').trim().split(/\s+/);
    const q = Number(quota);
    const p = Number(period);
    return quota !== 'max' && q > 0 && p > 0 ? { cpus: q / p, file } : undefined;
  }
  const file = join(folder, 'cpu.cfs_quota_us');
  const q = Number((read(file) ?? '').trim());
  const p = Number((read(join(folder, 'cpu.cfs_period_us')) ?? '').trim());
  return q > 0 && p > 0 ? { cpus: q / p, file } : undefined;
}

/**
 * Counts the CPUs this process may use: the affinity's count, lowered by the CPU quota of its own
 * cgroup or of any cgroup above it (a parent's quota binds its children), v2's `cpu.max` and v1's
 * `cpu.cfs_quota_us / cpu.cfs_period_us`, each rounded up (1.5 CPUs: 2 workers), at least 1.
 * libuv reads no quota in Node 20 (libuv 1.46) and only v2's in later ones, so this reads both.
 * Reads the filesystem: call it where the primary starts, not at import.
 */
export function countCpus(sources: CpuCountSources = {}): CpuCount {
  const root = sources.root ?? '/';
  const parallelism = Math.max(1, sources.parallelism ?? availableParallelism());
  let quota: { cpus: number; file: string } | undefined;
  for (const h of hierarchies(root)) {
    const mount = join(root, h.mountPoint);
    const parts = h.relative === '' ? [] : h.relative.split('/').filter((p) => p !== '');
    // From the process's own folder up to the mount's root: the tightest quota on the way binds.
    for (let depth = parts.length; depth >= 0; depth--) {
      const found = quotaIn(h.version, join(mount, ...parts.slice(0, depth)));
      if (found !== undefined && (quota === undefined || found.cpus < quota.cpus)) quota = found;
    }
  }
  const fromQuota = quota === undefined ? Infinity : Math.max(1, Math.ceil(quota.cpus - 1e-9));
  const count = Math.min(parallelism, fromQuota);
  const source = fromQuota < parallelism ? 'cgroup' : 'affinity';
  const file = quota === undefined ? undefined : root === '/' ? quota.file : `/${quota.file.slice(join(root, '/').length)}`;
  return { count, source, parallelism, quota: quota?.cpus, quotaFile: file };
}

/** `2 (cgroup cpu quota 1.5 of 4 CPUs)`, `4 (4 available CPUs)`: how `auto` was counted, for people. */
export function describeCpuCount(c: CpuCount): string {
  if (c.source === 'cgroup') return `cgroup cpu quota ${c.quota!.toFixed(1)} of ${c.parallelism} CPUs`;
  const quota = c.quota === undefined ? '' : `; cgroup cpu quota ${c.quota.toFixed(1)}`;
  return `${c.parallelism} available CPUs${quota}`;
}
