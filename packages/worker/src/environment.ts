import { WorkerEnv } from '@handoff/protocol';

/**
 * The environment variable the orchestrator sets on every worker it forks (its worker id). With it
 * and an IPC channel, `serve()` takes connections from the primary; without, it listens itself.
 */
export const WORKER_ID_ENV = WorkerEnv.WORKER_ID;

/** True inside a worker forked by a handoff primary. */
export function isHandoffWorker(): boolean {
  return process.env[WORKER_ID_ENV] !== undefined && typeof process.send === 'function';
}

/** This worker's id as the primary numbered it, or `undefined` outside a handoff worker. */
export function workerId(): number | undefined {
  const raw = process.env[WORKER_ID_ENV];
  return raw === undefined ? undefined : Number(raw);
}

/** Marks the worker adapter's own acceptors, whose `listen()` drop-in mode must leave alone. */
export const kInternalServer = Symbol.for('handoff.internal-server');
