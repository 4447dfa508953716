import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { killAll, waitFor, type LoadProcess } from '../../../tools/testing/src/index.js';
import { fixture, useSandbox, type Running } from './helpers.js';

// What the upgrade tests share (upgrade.test.ts: the hand-over; upgrade-failures.test.ts: what
// fails and what is killed): real `handoff start` primaries in a folder of each test's own, their
// status, their processes in /proc; every primary and worker pid seen is killed after each test.

/** `handoff status --json`, the fields these tests read. */
export interface Status {
  pid: number;
  generation: number;
  node: string;
  state: string;
  listeners: Array<{ port: number }>;
  workers: Array<{ pid: number; state: string }>;
}

/** True while `pid` runs (a zombie left for init to reap counts as gone). */
export function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Processes whose parent is `ppid`. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Registers the cleanup of a describe block's upgrade tests and returns their tools. */
export function useUpgradeRig() {
  const sandbox = useSandbox();
  const pids = new Set<number>();
  const loads: LoadProcess[] = [];
  let dir = '';
  afterEach(() => {
    killAll(loads.splice(0).map((l) => l.pid));
    killAll(pids);
    pids.clear();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  /** The app copied into a folder of the test's own, so that a test may change it on disk. */
  function appFolder(): string {
    dir = mkdtempSync(join(tmpdir(), 'handoff-upgrade-test-'));
    copyFileSync(fixture('whoami.cjs'), join(dir, 'app.cjs'));
    return dir;
  }

  /** The next generation's app: whoami, listening only after `ms` (its workers start slowly). */
  function slowStart(ms: number): void {
    copyFileSync(fixture('whoami.cjs'), join(dir, 'whoami.cjs'));
    writeFileSync(join(dir, 'app.cjs'), `setTimeout(() => require('./whoami.cjs'), ${ms});\n`);
  }

  /** A stand-in systemd-notify that holds its second caller (the new primary, once it took the name) for 5 s. */
  function holdingNotify(cwd: string): { env: Record<string, string>; log: string } {
    const log = join(cwd, 'notified.txt');
    writeFileSync(join(cwd, 'systemd-notify'), '#!/bin/sh\nif [ -e "$NOTIFY_LOG" ]; then echo "$@" >> "$NOTIFY_LOG"; exec sleep 5; fi\necho "$@" >> "$NOTIFY_LOG"\n');
    chmodSync(join(cwd, 'systemd-notify'), 0o755);
    return { env: { PATH: `${cwd}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/systemd/notify-stand-in', NOTIFY_LOG: log }, log };
  }

  /** The new primary the old one (`old`) started: its child that is none of its workers. */
  async function successorOf(old: Status): Promise<number> {
    let next: number | undefined;
    await waitFor(() => (next = childrenOf(old.pid).find((pid) => !old.workers.some((w) => w.pid === pid))) !== undefined, 20_000, 10, 'the new primary to be spawned');
    pids.add(next!);
    return next!;
  }

  /** `handoff status <name> --json`; every pid it names is killed after the test. */
  async function status(name: string): Promise<Status> {
    const { code, stdout, stderr } = await sandbox.cli(['status', name, '--json']);
    expect(code, stderr).toBe(0);
    const s = JSON.parse(stdout) as Status;
    pids.add(s.pid);
    for (const w of s.workers) pids.add(w.pid);
    return s;
  }

  /** `handoff start app.cjs -w 2 --port 3000:0 --name <name>` in a folder of the test's own. */
  async function startApp(name: string, extra: string[] = []): Promise<{ app: Running; port: number; first: Status }> {
    const cwd = appFolder();
    const app = await sandbox.start(['app.cjs', '-w', '2', '--port', '3000:0', '--name', name, ...extra], { cwd });
    pids.add(app.child.pid!);
    const first = await status(name);
    return { app, port: first.listeners[0]!.port, first };
  }

  return { sandbox, pids, loads, appFolder, slowStart, holdingNotify, successorOf, status, startApp, dir: () => dir };
}
