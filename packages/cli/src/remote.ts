import { resolve } from 'node:path';
import { request } from './control/client.js';
import { controlDir, listNames, socketPath } from './control/paths.js';
import { socketAnswers } from './control/server.js';
import { plural, type PrimaryStatus } from './control/handlers.js';
import type { CommandLine } from './args.js';
import { CliErrorCode, ExitCode, HandoffCliError } from './errors.js';
import { OPTIONS } from './options.js';
import { renderList, renderStatus } from './render.js';
import { runTop } from './top.js';
import { LineFormatter } from './logs/format.js';
import type { LogRecord } from './logs/sink.js';

/** Where a client command writes. */
export interface RemoteIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

/** The running primaries (their sockets answer); stale sockets are skipped. */
async function running(dir: string): Promise<string[]> {
  const names = listNames(dir);
  const alive = await Promise.all(names.map((n) => socketAnswers(socketPath(dir, n), 500)));
  return names.filter((_, i) => alive[i]);
}

/** The primary a command means: the name given, else the only one running. */
async function target(dir: string, given: string | undefined): Promise<string> {
  if (given !== undefined) return given;
  const names = await running(dir);
  if (names.length === 1) return names[0]!;
  if (names.length === 0) throw new HandoffCliError(CliErrorCode.NOT_RUNNING, 'no handoff primary is running (start one with handoff start app.js)');
  throw new HandoffCliError(CliErrorCode.USAGE, `${names.length} primaries are running (${names.join(', ')}); say which: handoff <command> <name>`);
}

/** `status`, `reload`, `scale`, `stop` and `ls`: one request to a running primary (or each). */
export async function runRemote(line: CommandLine, io: RemoteIO): Promise<number> {
  const dir = controlDir(io.env);
  const out = (text: string): void => void io.stdout.write(text);
  const progress = (message: string): void => void io.stderr.write(`${message}\n`);
  const positional = [...line.positionals];
  const json = line.values.json === true;
  switch (line.command) {
    case 'ls': {
      if (positional.length > 0) throw new HandoffCliError(CliErrorCode.USAGE, `handoff ls takes no argument, got ${positional.join(' ')}`);
      const names = await running(dir);
      const list = (await Promise.all(names.map((n) => request(socketPath(dir, n), n, 'status').catch(() => undefined)))).filter((s): s is PrimaryStatus => s !== undefined);
      out(json ? `${JSON.stringify(list)}\n` : renderList(list));
      return ExitCode.OK;
    }
    case 'scale': {
      const spec = positional.pop();
      if (spec === undefined) throw new HandoffCliError(CliErrorCode.USAGE, 'handoff scale needs a number of workers: handoff scale [name] 4 (or +1, -1)');
      if (!/^[+-]?\d+$/.test(spec)) throw new HandoffCliError(CliErrorCode.USAGE, `handoff scale needs N, +N or -N, got ${JSON.stringify(spec)}`);
      const name = await target(dir, one(positional, line));
      const result = (await request(socketPath(dir, name), name, 'scale', { workers: spec }, progress)) as { workers: number };
      out(`${name}: ${plural(result.workers, 'worker')}\n`);
      return ExitCode.OK;
    }
    case 'status': {
      const name = await target(dir, one(positional, line));
      const status = (await request(socketPath(dir, name), name, 'status')) as PrimaryStatus;
      out(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status));
      return ExitCode.OK;
    }
    case 'reload': {
      const name = await target(dir, one(positional, line));
      const result = (await request(socketPath(dir, name), name, 'reload', {}, progress)) as { replaced: number; ms: number };
      out(`${name}: reloaded, ${plural(result.replaced, 'worker')} replaced in ${(result.ms / 1000).toFixed(1)} s\n`);
      return ExitCode.OK;
    }
    case 'logs': {
      const name = await target(dir, one(positional, line));
      const tty = (io.stdout as { isTTY?: boolean }).isTTY === true;
      const format = new LineFormatter(json ? 'json' : 'text', name, tty && io.env.NO_COLOR === undefined);
      const print = (_message: string, data: unknown): void => {
        const r = data as LogRecord;
        out(`${r.kind === 'line' ? format.worker({ instance: r.worker, pid: r.pid }, r.stream, r.line) : format.event(r.event, r.message, r.fields)}\n`);
      };
      // A stream: it ends when the primary stops (or on Ctrl-C here).
      await request(socketPath(dir, name), name, 'logs', {}, print).catch((error: HandoffCliError) => {
        if (!/closed the control connection/.test(error.message)) throw error;
      });
      return ExitCode.OK;
    }
    case 'top': {
      const name = await target(dir, one(positional, line));
      return await runTop(socketPath(dir, name), name, io);
    }
    case 'upgrade': {
      const name = await target(dir, one(positional, line));
      // The new primary runs where the old one does: a relative --node means this terminal's folder.
      const node = line.values.node === undefined ? undefined : resolve(line.values.node as string);
      const result = (await request(socketPath(dir, name), name, 'upgrade', node === undefined ? {} : { node }, progress)) as { pid: number; generation: number; ms: number };
      out(`${name}: upgraded, generation ${result.generation} (pid ${result.pid}) serves, in ${(result.ms / 1000).toFixed(1)} s; the old primary drains and exits\n`);
      return ExitCode.OK;
    }
    case 'stop': {
      const name = await target(dir, one(positional, line));
      const args = line.values.timeout === undefined ? {} : { timeout: line.values.timeout };
      const result = (await request(socketPath(dir, name), name, 'stop', args, progress)) as { exitCode: number };
      out(`${name}: stopped${result.exitCode === 0 ? '' : ' (connections were cut at the drain deadline)'}\n`);
      return result.exitCode;
    }
    default:
      throw new HandoffCliError(CliErrorCode.USAGE, `not a control command: ${String(line.command)}`);
  }
}

function one(positional: readonly string[], line: CommandLine): string | undefined {
  if (positional.length > 1) throw new HandoffCliError(CliErrorCode.USAGE, `handoff ${line.command} takes one name, got ${positional.join(' ')}`);
  if (positional[0] !== undefined) return NAME.read!(positional[0], 'the name') as string;
  return line.values.name as string | undefined;
}

const NAME = OPTIONS.find((o) => o.key === 'name')!;
