import { flagOf, optionsOf, type Command } from './options.js';

const SYNOPSIS: Record<Command, { readonly usage: string; readonly about: string }> = {
  start: { usage: 'handoff start <entry> [options] [-- app args]', about: 'Run the app on every core in the foreground (Ctrl-C drains and stops it).' },
  status: { usage: 'handoff status [name] [--json]', about: 'Workers, listeners, policy, queue and 503s of a running primary.' },
  reload: { usage: 'handoff reload [name]', about: 'Replace every worker, one at a time, with no failed request.' },
  scale: { usage: 'handoff scale [name] <N|+N|-N>', about: 'Set the number of workers, or add or remove some.' },
  stop: { usage: 'handoff stop [name] [--timeout MS]', about: 'Drain the workers and stop the primary.' },
  logs: { usage: 'handoff logs [name] [--json]', about: "Follow a running primary's log (its workers' lines and its events) from another terminal." },
  ls: { usage: 'handoff ls [--json]', about: 'Every running primary of this user.' },
  upgrade: { usage: 'handoff upgrade [name] [--node PATH]', about: 'Replace the primary itself (a new handoff, Node or config) with no closed port: the new one takes the sockets, the old one drains and exits.' },
  top: { usage: 'handoff top [name]', about: 'A live view of a running primary: per worker CPU, memory, connections, req/s, loop delay, restarts; queue and 503s (q quits).' },
};

/** The help text of one command, from the options table. */
export function commandHelp(command: Command): string {
  const { usage, about } = SYNOPSIS[command];
  const rows = optionsOf(command)
    .filter((o) => o.configOnly !== true)
    .map((o) => {
      const left = `${o.short !== undefined ? `-${o.short}, ` : '    '}--${flagOf(o.key)}${o.value !== undefined ? ` ${o.value}` : ''}`;
      return [left, o.help + (o.defaultText !== undefined ? ` (default: ${o.defaultText})` : '')] as const;
    });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const lines = rows.map(([l, r]) => `  ${l.padEnd(width)}${r}`);
  return `Usage: ${usage}\n\n${about}\n\nOptions:\n${lines.join('\n')}\n`;
}

/** `handoff --help`. */
export function mainHelp(): string {
  const lines = Object.entries(SYNOPSIS).map(([, { usage, about }]) => `  ${usage}\n      ${about}`);
  return `handoff: run a Node.js server on every core, and steer it from another terminal.\n\nUsage:\n${lines.join('\n')}\n\nhandoff <command> --help shows a command's options. Config: handoff.config.{mjs,js,cjs,json}.\nExit codes: 0 clean, 1 drained past the deadline or failed, 2 usage, 3 the app failed to start, 4 name in use / not running, 130 forced.\n`;
}
