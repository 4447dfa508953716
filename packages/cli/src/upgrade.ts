import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { ListeningSocket } from '@handoff/orchestrator';
import { CliErrorCode, HandoffCliError } from './errors.js';
import type { UpgradeLine, UpgradeTally } from './upgrade-line.js';
import type { HandedSocket, Serves } from './upgrade-sockets.js';

// An upgrade: the running primary (the old one) starts a new primary from the command line it was
// started with, and hands it every listening socket as systemd would, as inherited descriptors.
// The new one adopts them as `{ fd }` (the one adoption path; upgrade-sockets.ts says which serves
// what), starts its workers, takes the control socket's name and says so; only then does the old
// one stop accepting and drain. Both hold the sockets meanwhile, so no port is ever closed: a
// connection is accepted by whichever primary accepts it. nginx (USR2), unicorn and HAProxy (-x) do
// the same. What passes between the two processes: PROTOCOL.md.

/** The environment variable that tells a new primary what the old one handed it. */
export const HANDOVER_ENV = 'HANDOFF_UPGRADE';

/** What the old primary tells the new one, in {@link HANDOVER_ENV}. */
export interface Handover {
  /** The old primary's pid: the new one trusts the variable only when that is its parent. */
  readonly from: number;
  /** The new primary's generation (the first primary's is 1). */
  readonly generation: number;
  readonly sockets: readonly HandedSocket[];
  /** The upgrades the old primary's line counted before this one (absent from an older handoff). */
  readonly upgrades?: UpgradeTally;
}

/** Messages the new primary sends the old one on the IPC channel it was spawned with (PROTOCOL.md). */
type SuccessorMessage = { readonly type: 'handoff:upgrade-ready'; readonly pid: number } | { readonly type: 'handoff:upgrade-failed'; readonly code: string; readonly message: string };

/** The old primary's answer to `handoff:upgrade-ready`: the line's counts, this upgrade's success included. */
interface DoneMessage {
  readonly type: 'handoff:upgrade-done';
  readonly upgrades: UpgradeTally;
}

/** What an upgrade asks for. */
export interface UpgradeRequest {
  /** The Node.js binary of the new primary; default: this one's. */
  readonly node?: string | undefined;
}

/** The answer to `upgrade`. */
export interface UpgradeResult {
  readonly pid: number;
  readonly generation: number;
  readonly sockets: number;
  readonly ms: number;
}

/** Why this process may not upgrade itself; undefined: it may. */
export function upgradeRefusal(pid = process.pid): string | undefined {
  if (pid === 1) {
    return 'handoff runs as PID 1 of a container, and the container ends when PID 1 exits: upgrade the container instead, with a rolling deployment (a new container started and ready before the old one is stopped), or run handoff under an init (docker run --init, tini) to upgrade in place';
  }
  return undefined;
}

/** How long the old primary waits for the new one to say it is ready, past the workers' own `readyTimeout`. */
const GRACE_MS = 15_000;
/** How long a new primary that is being stopped may drain before it is killed. */
const STOP_GRACE_MS = 10_000;

/**
 * The old primary's side: spawns the new primary with `sockets` at descriptors 4 and up (3 is the
 * IPC channel), and resolves with its pid once it reports ready (its workers are ready, and the
 * control socket's name is its own). A new primary that fails, exits or stays silent past
 * `readyTimeout` is stopped, every process of it gone, and the promise rejects with its error.
 * Counts the upgrade in `line` either way, and answers a ready one with the final counts.
 */
export function spawnSuccessor(sockets: ReadonlyArray<ListeningSocket & { readonly serves: Serves }>, line: UpgradeLine, request: UpgradeRequest, readyTimeout: number): Promise<{ readonly pid: number }> {
  const node = request.node ?? process.execPath;
  if (!isAbsolute(node) || !existsSync(node)) {
    line.count('failure');
    return Promise.reject(new HandoffCliError(CliErrorCode.UPGRADE_FAILED, `--node ${node}: no such file; give the absolute path of a Node.js binary`));
  }
  const { generation, success, failure, refused } = line.counts();
  const handover: Handover = { from: process.pid, generation: generation + 1, sockets: sockets.map((s, i) => ({ ...s.serves, fd: 4 + i })), upgrades: { success, failure, refused } };
  const stdio: StdioOptions = ['inherit', 'inherit', 'inherit', 'ipc', ...sockets.map((s) => s.fd)];
  // The command line this primary was started with: a changed config file is read anew.
  const child = spawn(node, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], { cwd: process.cwd(), env: { ...process.env, [HANDOVER_ENV]: JSON.stringify(handover) }, stdio });
  return new Promise((resolve, reject) => {
    let settled = false;
    let failure: HandoffCliError | undefined;
    const timer = setTimeout(() => fail(new HandoffCliError(CliErrorCode.UPGRADE_FAILED, `the new primary (pid ${child.pid}) was not ready within ${readyTimeout + GRACE_MS} ms; it was stopped`)), readyTimeout + GRACE_MS);
    const fail = (error: HandoffCliError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      line.count('failure');
      failure = error;
      // Nothing of the new primary may be left: it drains its workers on SIGTERM, else is killed.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        child.once('exit', () => {
          clearTimeout(kill);
          reject(failure);
        });
      } else {
        reject(failure);
      }
    };
    child.once('error', (error) => fail(new HandoffCliError(CliErrorCode.UPGRADE_FAILED, `could not start the new primary (${node}): ${error.message}`, { cause: error })));
    child.on('message', (message: SuccessorMessage) => {
      if (message?.type === 'handoff:upgrade-failed') fail(new HandoffCliError(CliErrorCode.UPGRADE_FAILED, `the new primary failed: ${message.message}`));
      if (message?.type === 'handoff:upgrade-ready' && !settled) {
        settled = true;
        clearTimeout(timer);
        line.count('success');
        const { success, failure, refused } = line.counts();
        const done: DoneMessage = { type: 'handoff:upgrade-done', upgrades: { success, failure, refused } };
        // The old primary exits soon: nothing of the new one may keep it alive. A new one that died
        // meanwhile misses the counts, nothing more (it has those it was started with).
        child.removeAllListeners('message');
        child.on('error', () => {});
        if (child.connected) child.send(done, () => (child as ChildProcess & { channel?: { unref(): void } }).channel?.unref());
        child.unref();
        resolve({ pid: child.pid! });
      }
    });
    child.once('exit', (code, signal) => {
      if (!settled) fail(new HandoffCliError(CliErrorCode.UPGRADE_FAILED, `the new primary exited (${signal ?? `code ${code}`}) before it was ready; its log says why`));
    });
  });
}

/**
 * The new primary's side: the hand-over its parent left in {@link HANDOVER_ENV}, taken once (the
 * variable is removed, so that its workers never see it). Undefined when this process is no new
 * primary of an upgrade (no variable, or one its parent did not set).
 */
export function takeHandover(env: NodeJS.ProcessEnv = process.env): Handover | undefined {
  const raw = env[HANDOVER_ENV];
  delete env[HANDOVER_ENV];
  if (raw === undefined || typeof process.send !== 'function') return undefined;
  let value: Handover;
  try {
    value = JSON.parse(raw) as Handover;
  } catch {
    return undefined;
  }
  if (value?.from !== process.ppid || !Number.isInteger(value.generation) || !Array.isArray(value.sockets)) return undefined;
  successor = true;
  // The IPC channel must not keep this primary alive, nor its parent's exit end it.
  (process as NodeJS.Process & { channel?: { unref(): void } }).channel?.unref();
  return value;
}

/** How long a new primary waits for the old one's `handoff:upgrade-done` (an older handoff sends none). */
const DONE_WAIT_MS = 2000;

/**
 * The new primary, once it serves and holds the control socket's name: tells the old one, which
 * drains and exits, and takes the line's final counts from its answer (the old one may have counted
 * a refusal while this one started). Resolves when answered, when the old one is gone (a SIGKILL),
 * or after {@link DONE_WAIT_MS}; the channel is closed then.
 */
export function tellPredecessorReady(line: UpgradeLine): Promise<void> {
  return new Promise((resolve) => {
    if (typeof process.send !== 'function' || !process.connected) return resolve();
    const finish = (): void => {
      clearTimeout(timer);
      process.off('message', onMessage);
      process.off('disconnect', finish);
      if (process.connected) process.disconnect();
      resolve();
    };
    const onMessage = (message: DoneMessage): void => {
      if (message?.type !== 'handoff:upgrade-done') return;
      line.adopt(message.upgrades);
      finish();
    };
    const timer = setTimeout(finish, DONE_WAIT_MS);
    process.on('message', onMessage);
    process.once('disconnect', finish);
    const ready: SuccessorMessage = { type: 'handoff:upgrade-ready', pid: process.pid };
    process.send(ready, undefined, {}, (error: Error | null) => {
      if (error !== null) finish();
    });
  });
}

/** The new primary tells the old one why it failed. */
function tellPredecessor(message: SuccessorMessage): Promise<void> {
  return new Promise((resolve) => {
    if (typeof process.send !== 'function' || !process.connected) return resolve();
    process.send(message, undefined, {}, () => {
      // The channel has done its work: the old primary is about to exit.
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}

let successor = false;

/** In a new primary whose start failed (before or after it read its hand-over): tells the old one why. */
export function reportFailedSuccessor(error: unknown): Promise<void> {
  if (!successor && process.env[HANDOVER_ENV] === undefined) return Promise.resolve();
  const e = error as { code?: unknown; message?: unknown };
  return tellPredecessor({ type: 'handoff:upgrade-failed', code: typeof e?.code === 'string' ? e.code : CliErrorCode.UPGRADE_FAILED, message: typeof e?.message === 'string' ? e.message : String(error) });
}
