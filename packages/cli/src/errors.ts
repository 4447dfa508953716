import { HandoffError } from '@handoff/orchestrator';

/** Codes of {@link HandoffCliError}. Switch on these, never on the message. */
export const CliErrorCode = {
  /** An unknown command, flag or argument, or a flag without its value. */
  USAGE: 'HANDOFF_ERR_USAGE',
  /** A flag or config value of the wrong kind (`--workers lots`). */
  INVALID_VALUE: 'HANDOFF_ERR_INVALID_VALUE',
  /** The config file cannot be found, loaded, or has an unknown key. */
  CONFIG: 'HANDOFF_ERR_CONFIG',
  /** A primary with this name runs already (its control socket answers). */
  NAME_IN_USE: 'HANDOFF_ERR_NAME_IN_USE',
  /** No running primary has this name. */
  NOT_RUNNING: 'HANDOFF_ERR_NOT_RUNNING',
  /** The control directory is not safe to use (not ours, or open to others). */
  CONTROL_UNSAFE: 'HANDOFF_ERR_CONTROL_UNSAFE',
  /** A control request failed, or its answer was not understood. */
  CONTROL: 'HANDOFF_ERR_CONTROL',
  /** A TypeScript entry this Node cannot run: no type stripping (Node 20) and no tsx in the app's folder. */
  TYPESCRIPT: 'HANDOFF_ERR_TYPESCRIPT',
  /** `upgrade`: another upgrade of this primary runs, or it is not running (starting, draining). */
  UPGRADE_BUSY: 'HANDOFF_ERR_UPGRADE_BUSY',
  /** `upgrade`: this primary may not upgrade itself (PID 1 of a container). */
  UPGRADE_REFUSED: 'HANDOFF_ERR_UPGRADE_REFUSED',
  /** `upgrade`: the new primary failed to start or its workers to become ready; it was stopped, the old one serves on. */
  UPGRADE_FAILED: 'HANDOFF_ERR_UPGRADE_FAILED',
} as const;

/** One of the values of {@link CliErrorCode}. */
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** An error of the `handoff` command: bad usage, a bad config, or a control request that failed. */
export class HandoffCliError extends HandoffError {
  override readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
  }
}

/** The exit codes of `handoff`, documented in the README. */
export const ExitCode = {
  /** Clean: every worker drained in time, or the command did what was asked. */
  OK: 0,
  /** Drained past the deadline (some worker was killed), or a control request failed. */
  FAILED: 1,
  /** Usage: an unknown command or flag, a bad value, a bad config file. */
  USAGE: 2,
  /** The app failed to start: a worker exited or hung before it was ready (its last stderr lines are printed). */
  START_FAILED: 3,
  /** `start`: a primary of that name runs already; other commands: no primary of that name runs. */
  NAME: 4,
  /** Forced: a second Ctrl-C killed the workers. */
  FORCED: 130,
} as const;
