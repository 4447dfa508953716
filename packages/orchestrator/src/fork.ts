import { fork, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { SpawnPlan } from '@handoff/fdpass';
import { WorkerEnv } from '@handoff/protocol';
import type { ResolvedOptions } from './options.js';

/** Who the forked worker is: its id, its slot, and the worker count the primary aims at. */
export interface ForkIdentity {
  readonly id: number;
  readonly slot: number;
  readonly instances: number;
}

/**
 * Forks the process of worker `id` in `slot`: the worker module with its arguments, the primary's
 * environment plus the user's and handoff's own (`WorkerEnv`), the drop-in preload, the identity to
 * run as, and stdio (stderr always through the primary, to explain a failed start). With a
 * transport's `plan`, its end of the worker's native link is added to stdio (and named in env).
 */
export function forkWorker({ id, slot, instances }: ForkIdentity, options: ResolvedOptions, plan?: SpawnPlan): ChildProcess {
  const forkOptions = {
    env: {
      ...process.env,
      ...options.identity?.env,
      ...options.env,
      [WorkerEnv.WORKER_ID]: String(id),
      [WorkerEnv.INSTANCE]: String(slot),
      [WorkerEnv.INSTANCES]: String(instances),
      [WorkerEnv.DRAIN_TIMEOUT_MS]: String(options.drainTimeout),
      // A policy that reads the workers' load wants it fresh: report each turn, not each 10 ms.
      [WorkerEnv.LOAD_COALESCE_MS]: options.policy.mode === 'primary' && options.policy.readsLoad === true ? '0' : '',
    },
    // Privilege drop (`user`, `group`): libuv sets the group, clears the supplementary groups
    // (setgroups(0, NULL) in uv__process_child_init), then sets the user, before Node starts.
    ...(options.identity === undefined ? {} : { uid: options.identity.uid, gid: options.identity.gid }),
    // Drop-in mode: the preload makes the app's own listen() ask the primary.
    execArgv: options.dropIn === undefined ? [...options.execArgv] : [...options.execArgv, '--import', options.dropIn.register],
    // stderr passes through the primary so the last lines can explain a failed start; with
    // `output: 'pipe'` stdout does too, and both go to the 'output' event instead of the primary's own.
    stdio: ['inherit', options.output === 'pipe' ? 'pipe' : 'inherit', 'pipe', 'ipc'] as StdioOptions,
  };
  return fork(options.worker, [...options.args], plan === undefined ? forkOptions : plan.options(forkOptions));
}
