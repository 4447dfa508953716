import { readFileSync } from 'node:fs';
import { HandoffError } from '@handoff/orchestrator';
import { parseCommandLine } from './args.js';
import { findConfig, loadConfig } from './config.js';
import { CliErrorCode, ExitCode, HandoffCliError } from './errors.js';
import { commandHelp, mainHelp } from './help.js';
import { runRemote } from './remote.js';
import { resolveSettings } from './settings.js';
import { runStart } from './start.js';
import { reportFailedSuccessor } from './upgrade.js';

/** What `main` reads and writes: the process's own by default. */
export interface MainIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

/** The exit code for an error `main` caught. */
export function exitCodeOf(error: unknown): number {
  if (!(error instanceof HandoffError)) return ExitCode.FAILED;
  switch (error.code) {
    case CliErrorCode.USAGE:
    case CliErrorCode.INVALID_VALUE:
    case CliErrorCode.CONFIG:
    case 'HANDOFF_ERR_INVALID_OPTION':
      return ExitCode.USAGE;
    case CliErrorCode.TYPESCRIPT:
      return ExitCode.START_FAILED;
    case CliErrorCode.NAME_IN_USE:
    case CliErrorCode.NOT_RUNNING:
      return ExitCode.NAME;
    default:
      return ExitCode.FAILED;
  }
}

function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Runs the `handoff` command with `argv` (without `node` and the script) and resolves with its exit
 * code. Never throws: every error is printed, as `handoff: <message>`, and mapped to its code.
 */
export async function main(argv: readonly string[], io: MainIO = { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }): Promise<number> {
  try {
    const line = parseCommandLine(argv);
    if (line.version) {
      io.stdout.write(`${version()}\n`);
      return ExitCode.OK;
    }
    if (line.help) {
      io.stdout.write(line.command === undefined ? mainHelp() : commandHelp(line.command));
      return ExitCode.OK;
    }
    if (line.command === 'start') {
      const path = findConfig(io.cwd, line.values.config as string | undefined);
      const config = path === undefined ? { values: {} } : await loadConfig(path);
      const settings = resolveSettings(io.cwd, config.values, line.values, line.positionals, line.appArgs, io.stdout.isTTY === true);
      return await runStart(settings, io);
    }
    return await runRemote(line, io);
  } catch (error) {
    const known = error instanceof HandoffError;
    io.stderr.write(`handoff: ${known ? (error as Error).message : ((error as Error)?.stack ?? String(error))}\n`);
    // A new primary of an upgrade that could not start: the old one answers `upgrade` with why.
    await reportFailedSuccessor(error);
    return exitCodeOf(error);
  }
}

export { HandoffCliError };
