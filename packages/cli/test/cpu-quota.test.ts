/**
 * `--workers auto` in a real cpu cgroup with a one-CPU quota: the command, started inside it,
 * forks one worker, and says why (the ready line, `handoff status`). It needs a writable cpu
 * controller (cgroup v1's `cpu` hierarchy, or cgroup2 with the cpu controller delegated) and root;
 * it is skipped with its reason otherwise, unless HANDOFF_REQUIRE_DEPLOY_TOOLS=1 (.ci/run sets it
 * as root): then it runs, and fails where it cannot.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { countCpus } from '@handoff/orchestrator';
import { afterEach, describe, expect, it } from 'vitest';
import { get, waitFor } from '../../../tools/testing/src/index.js';
import { fixture, useSandbox } from './helpers.js';

const required = process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';

/** A cgroup we may make with a quota: where, and how to write it; or why not. */
function cpuController(): { make(name: string): { dir: string; procs: string }; reason?: undefined } | { reason: string } {
  if (process.getuid?.() !== 0) return { reason: 'making a cgroup needs root' };
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const v1 = mounts.map((l) => l.split(' - ')).find(([, right]) => right !== undefined && right.startsWith('cgroup ') && right.split(' ')[2]!.split(',').includes('cpu'));
  if (v1 !== undefined) {
    const at = v1[0]!.split(' ')[4]!;
    return {
      make: (name) => {
        const dir = join(at, name);
        mkdirSync(dir);
        writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
        writeFileSync(join(dir, 'cpu.cfs_quota_us'), '100000');
        return { dir, procs: join(dir, 'cgroup.procs') };
      },
    };
  }
  const v2 = mounts.map((l) => l.split(' - ')).find(([, right]) => right !== undefined && right.startsWith('cgroup2 '));
  if (v2 !== undefined) {
    const at = v2[0]!.split(' ')[4]!;
    const own = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
    // A child of our own cgroup's parent (v2 forbids processes in a cgroup whose controllers are delegated).
    const parent = join(at, own, '..');
    if (!existsSync(join(parent, 'cgroup.subtree_control')) || !readFileSync(join(parent, 'cgroup.subtree_control'), 'utf8').includes('cpu')) {
      return { reason: `cgroup2 at ${at} has no cpu controller delegated to ${parent}` };
    }
    return {
      make: (name) => {
        const dir = join(parent, name);
        mkdirSync(dir);
        writeFileSync(join(dir, 'cpu.max'), '100000 100000');
        return { dir, procs: join(dir, 'cgroup.procs') };
      },
    };
  }
  return { reason: 'no cgroup cpu controller is mounted' };
}

const controller = cpuController();
const skip = controller.reason !== undefined && !required;

describe.skipIf(skip)(`workers auto in a cpu cgroup${controller.reason === undefined ? '' : ` (skipped: ${controller.reason})`}`, () => {
  let made: string | undefined;
  // Registered before the sandbox's: after-hooks run last-registered first, so this one runs once
  // the sandbox has killed every process it started; the cgroup empties as they are reaped.
  afterEach(async () => {
    const dir = made;
    made = undefined;
    if (dir === undefined) return;
    await waitFor(() => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() === '', 10_000, 20, `${dir} to empty`);
    rmdirSync(dir);
  });
  const sandbox = useSandbox();

  it('forks one worker under a one-CPU quota, and status says the quota counted them', async () => {
    if (controller.reason !== undefined) throw new Error(`HANDOFF_REQUIRE_DEPLOY_TOOLS=1 but ${controller.reason}`);
    const cgroup = controller.make(`handoff-test-${process.pid}`);
    made = cgroup.dir;
    // The command joins the cgroup before Node starts (same pid, exec), so its workers are in it too.
    const wrap = ['sh', '-c', `echo $$ > '${cgroup.procs}' && exec "$@"`, 'sh'];
    const run = await sandbox.start([fixture('express-app.cjs'), '--port', '3000:0', '--name', 'quota'], { wrap });
    const ready = run.lines.find((l) => l.event === 'ready')!;
    const cpus = availableParallelism();
    expect(ready).toMatchObject({ workers: 1, auto: { workers: 1, quota: 1, parallelism: cpus } });
    expect(ready.msg).toContain(`auto: ${cpus > 1 ? `cgroup cpu quota 1.0 of ${cpus} CPUs` : '1 available CPUs'}`);
    expect(readFileSync(cgroup.procs, 'utf8').trim().split('\n').map(Number)).toEqual(expect.arrayContaining([run.child.pid, ...run.workerPids]));
    expect((await get(run.port)).status).toBe(200);
    const status = await sandbox.cli(['status', 'quota']);
    expect(status.stdout).toContain(cpus > 1 ? `1 worker (auto: cgroup cpu quota 1.0 of ${cpus} CPUs)` : '1 worker (auto: 1 available CPUs');
  });

  it('outside that cgroup, forks what this process may use (the count is not fixed at 1)', async () => {
    const run = await sandbox.start([fixture('express-app.cjs'), '--port', '3000:0', '--name', 'noquota']);
    const ready = run.lines.find((l) => l.event === 'ready')!;
    const here = countCpus();
    expect(ready).toMatchObject({ workers: here.count, auto: { workers: here.count, source: here.source } });
  });
});
