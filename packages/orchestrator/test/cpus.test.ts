/**
 * countCpus() on fixture cgroup trees (a folder that stands for `/`): v2's cpu.max, v1's
 * cfs_quota_us/cfs_period_us, quotas on a parent of the process's cgroup, a container that sees
 * its own cgroup as the mount's root, and the affinity's count, the smallest of which wins.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { countCpus, describeCpuCount } from '../src/cpus.js';

let roots: string[] = [];
afterEach(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots = [];
});

/** A fixture root with these files (paths relative to `/`). */
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'handoff-cpus-'));
  roots.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const V2_MOUNT = '30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n';
const V1_MOUNTS = [
  '30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '',
].join('\n');

describe('countCpus', () => {
  it('takes a v2 cpu.max of the process own cgroup, rounded up', () => {
    const root = tree({
      'proc/self/cgroup': '0::/app.slice/web.service\n',
      'proc/self/mountinfo': V2_MOUNT,
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/app.slice/web.service/cpu.max': '150000 100000\n',
    });
    const c = countCpus({ root, parallelism: 8 });
    expect(c).toEqual({ count: 2, source: 'cgroup', parallelism: 8, quota: 1.5, quotaFile: '/sys/fs/cgroup/app.slice/web.service/cpu.max' });
    expect(describeCpuCount(c)).toBe('cgroup cpu quota 1.5 of 8 CPUs');
  });

  it('takes the tightest quota of a parent cgroup (nested paths)', () => {
    const root = tree({
      'proc/self/cgroup': '0::/kubepods/pod1/c1\n',
      'proc/self/mountinfo': V2_MOUNT,
      'sys/fs/cgroup/kubepods/cpu.max': 'max 100000\n',
      'sys/fs/cgroup/kubepods/pod1/cpu.max': '200000 100000\n',
      'sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000\n',
    });
    expect(countCpus({ root, parallelism: 64 })).toMatchObject({ count: 2, source: 'cgroup', quota: 2 });
  });

  it('reads v1 cpu.cfs_quota_us / cpu.cfs_period_us on a co-mounted cpu,cpuacct hierarchy', () => {
    const root = tree({
      'proc/self/cgroup': '4:memory:/x\n2:cpu,cpuacct:/handoff/test\n0::/\n',
      'proc/self/mountinfo': V1_MOUNTS,
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      'sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
      'sys/fs/cgroup/cpu,cpuacct/handoff/test/cpu.cfs_quota_us': '100000\n',
      'sys/fs/cgroup/cpu,cpuacct/handoff/test/cpu.cfs_period_us': '100000\n',
    });
    expect(countCpus({ root, parallelism: 2 })).toEqual({
      count: 1,
      source: 'cgroup',
      parallelism: 2,
      quota: 1,
      quotaFile: '/sys/fs/cgroup/cpu,cpuacct/handoff/test/cpu.cfs_quota_us',
    });
  });

  it('never goes below 1 for a quota under one CPU', () => {
    const root = tree({
      'proc/self/cgroup': '0::/small\n',
      'proc/self/mountinfo': V2_MOUNT,
      'sys/fs/cgroup/small/cpu.max': '20000 100000\n',
    });
    expect(countCpus({ root, parallelism: 4 })).toMatchObject({ count: 1, quota: 0.2 });
  });

  it('lets the affinity win where it is smaller than the quota', () => {
    const root = tree({
      'proc/self/cgroup': '0::/big\n',
      'proc/self/mountinfo': V2_MOUNT,
      'sys/fs/cgroup/big/cpu.max': '400000 100000\n',
    });
    const c = countCpus({ root, parallelism: 2 });
    expect(c).toMatchObject({ count: 2, source: 'affinity', quota: 4 });
    expect(describeCpuCount(c)).toBe('2 available CPUs; cgroup cpu quota 4.0');
  });

  it('reads a container whose cgroup is the mount root (no cgroup namespace: /docker/<id> unseen)', () => {
    const root = tree({
      'proc/self/cgroup': '3:cpu:/docker/abc\n',
      'proc/self/mountinfo': '31 30 0:28 /docker/abc /sys/fs/cgroup/cpu ro,relatime - cgroup cgroup rw,cpu\n',
      'sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000\n',
      'sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n',
    });
    expect(countCpus({ root, parallelism: 16 })).toMatchObject({ count: 3, source: 'cgroup' });
  });

  it('takes the smallest of v1 and v2 on a hybrid mount', () => {
    const root = tree({
      'proc/self/cgroup': '1:cpu:/a\n0::/b\n',
      'proc/self/mountinfo': `${V1_MOUNTS.replace('cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct', 'cpu rw,relatime - cgroup cgroup rw,cpu')}40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n`,
      'sys/fs/cgroup/cpu/a/cpu.cfs_quota_us': '300000\n',
      'sys/fs/cgroup/cpu/a/cpu.cfs_period_us': '100000\n',
      'sys/fs/cgroup/unified/b/cpu.max': '250000 100000\n',
    });
    expect(countCpus({ root, parallelism: 16 })).toMatchObject({ count: 3, quota: 2.5 });
  });

  it('counts the affinity alone where no quota is set or nothing is readable', () => {
    const unlimited = tree({
      'proc/self/cgroup': '0::/\n',
      'proc/self/mountinfo': V2_MOUNT,
      'sys/fs/cgroup/cpu.max': 'max 100000\n',
    });
    expect(countCpus({ root: unlimited, parallelism: 6 })).toEqual({ count: 6, source: 'affinity', parallelism: 6, quota: undefined, quotaFile: undefined });
    expect(countCpus({ root: tree({}), parallelism: 3 })).toMatchObject({ count: 3, source: 'affinity' });
  });

  it('reads this machine without throwing, and never counts above os.availableParallelism()', async () => {
    const { availableParallelism } = await import('node:os');
    const c = countCpus();
    expect(c.count).toBeGreaterThanOrEqual(1);
    expect(c.count).toBeLessThanOrEqual(availableParallelism());
  });
});
