// The primary's and its workers' states: one list each, from which the types are made, so that
// `@handoff/metrics` (a series per state) and the CLI read the same ones the code moves through.

/** The primary's lifecycle, in order: `new -> starting -> running -> (reloading) -> draining -> stopped`. */
export const PRIMARY_STATES = Object.freeze(['new', 'starting', 'running', 'reloading', 'draining', 'stopped'] as const);

/** One of {@link PRIMARY_STATES}. */
export type PrimaryState = (typeof PRIMARY_STATES)[number];

/** A worker's life, in order: `starting -> ready -> draining -> exited` (a worker may exit from any). */
export const WORKER_STATES = Object.freeze(['starting', 'ready', 'draining', 'exited'] as const);

/** One of {@link WORKER_STATES}. */
export type WorkerState = (typeof WORKER_STATES)[number];
