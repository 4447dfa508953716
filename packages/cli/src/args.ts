import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliErrorCode, HandoffCliError } from './errors.js';
import { COMMANDS, flagOf, OPTIONS, optionsOf, type Command } from './options.js';
import { didYouMean, nearest } from './suggest.js';

/** A command line, read and checked against the options table. */
export interface CommandLine {
  readonly command: Command | undefined;
  /** Option values by config key, already read (`--drain-timeout 10s` → `drainTimeout: 10000`). */
  readonly values: Readonly<Record<string, unknown>>;
  /** Arguments before `--` (the entry for `start`, the name for others, N for `scale`). */
  readonly positionals: readonly string[];
  /** Arguments after `--`: the app's own. */
  readonly appArgs: readonly string[];
  readonly help: boolean;
  readonly version: boolean;
}

function usage(message: string): HandoffCliError {
  return new HandoffCliError(CliErrorCode.USAGE, message);
}

/** Reads `argv` (without node and the script): a command, then its flags and arguments. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const [first, ...others] = argv;
  let rest = others;
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !(COMMANDS as readonly string[]).includes(topic)) throw usage(`unknown command ${JSON.stringify(topic)}${didYouMean(topic, COMMANDS)}`);
    return { command: topic as Command | undefined, values: {}, positionals: [], appArgs: [], help: true, version: false };
  }
  if (first === '-v' || first === '--version') return { command: undefined, values: {}, positionals: [], appArgs: [], help: false, version: true };
  if (!(COMMANDS as readonly string[]).includes(first)) {
    const hint = first.startsWith('-') ? ' (a command comes first: handoff start app.js --workers 4)' : didYouMean(first, COMMANDS);
    throw usage(`unknown command ${JSON.stringify(first)}${hint} (commands: ${COMMANDS.join(', ')})`);
  }
  const command = first as Command;
  // `handoff scale -1`: a signed count is an argument, not a flag.
  const signed = command === 'scale' ? rest.filter((a) => /^[+-]\d+$/.test(a)) : [];
  if (signed.length > 0) rest = rest.filter((a) => !/^[+-]\d+$/.test(a));
  const specs = optionsOf(command).filter((o) => o.configOnly !== true);
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const spec of specs) {
    config[flagOf(spec.key)] = { type: spec.value === undefined ? 'boolean' : 'string', ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  // Node flags start with a dash, which parseArgs reads as a missing value: take the next word as it is.
  for (let i = 0; i < rest.length - 1; i++) {
    if (rest[i] === '--node-args') rest = [...rest.slice(0, i), `--node-args=${rest[i + 1]}`, ...rest.slice(i + 2)];
    if (rest[i] === '--') break;
  }
  let parsed: ReturnType<typeof parseArgs<{ options: typeof config; allowPositionals: true; tokens: true; strict: true; args: string[] }>>;
  try {
    parsed = parseArgs({ args: rest, options: config, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw explain(error as Error & { code?: string }, command, specs.map((s) => flagOf(s.key)));
  }
  const terminator = parsed.tokens.find((t) => t.kind === 'option-terminator');
  const positionals: string[] = [];
  const appArgs: string[] = [];
  for (const token of parsed.tokens) {
    if (token.kind !== 'positional') continue;
    (terminator !== undefined && token.index > terminator.index ? appArgs : positionals).push(token.value);
  }
  positionals.push(...signed);
  const values: Record<string, unknown> = {};
  for (const spec of specs) {
    const raw = (parsed.values as Record<string, unknown>)[flagOf(spec.key)];
    if (raw === undefined) continue;
    values[spec.key] = spec.read === undefined ? raw : spec.read(raw, `--${flagOf(spec.key)}`);
  }
  return { command, values, positionals, appArgs, help: values.help === true, version: false };
}

/** Turns parseArgs' errors into ours: which flag, and what was probably meant. */
function explain(error: Error & { code?: string }, command: Command, flags: readonly string[]): HandoffCliError {
  const flag = /'(?:-\w, )?(--?[^' ,]+)/.exec(error.message)?.[1] ?? '';
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const bare = flag.replace(/^-+/, '').split('=')[0]!;
    const near = nearest(bare, flags);
    const elsewhere = OPTIONS.find((o) => flagOf(o.key) === bare && !o.commands.includes(command));
    const hint = near !== undefined ? `; did you mean --${near}?` : elsewhere !== undefined ? `; --${bare} is an option of ${elsewhere.commands.join(', ')}` : '';
    return usage(`unknown option ${flag} for handoff ${command}${hint} (handoff ${command} --help lists them)`);
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const spec = OPTIONS.find((o) => `--${flagOf(o.key)}` === flag || `-${o.short}` === flag);
    if (spec?.value === undefined) return usage(`option ${flag} takes no value`);
    if (error.message.includes('ambiguous')) return usage(`option ${flag} needs a value (${spec.value}); for a value that starts with a dash write ${flag}=VALUE`);
    return usage(`option ${flag} needs a value (${spec.value})`);
  }
  return new HandoffCliError(CliErrorCode.USAGE, error.message, { cause: error });
}
