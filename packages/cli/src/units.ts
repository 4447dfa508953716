import { CliErrorCode, HandoffCliError } from './errors.js';

function bad(where: string, expected: string, value: unknown): never {
  throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `${where} must be ${expected}, got ${JSON.stringify(value)}`);
}

/** An integer >= `min`, from a flag's text or a config number. */
export function integer(value: unknown, where: string, min = 0): number {
  const n = typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min) bad(where, `an integer >= ${min}`, value);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in ms: `5000`, `5000ms`, `5s`, `1.5m`, `1h`. */
export function duration(value: unknown, where: string): number {
  if (typeof value === 'number') return integer(value, where);
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim()) : null;
  if (match === null) bad(where, 'a duration such as 5000, 500ms, 10s or 2m', value);
  return Math.round(Number(match[1]) * DURATION_UNITS[match[2] ?? 'ms']!);
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** A size in bytes: `536870912`, `512M`, `1.5G`, `800kb`. */
export function bytes(value: unknown, where: string): number {
  if (typeof value === 'number') return integer(value, where);
  const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim()) : null;
  const unit = match?.[2]?.toLowerCase() ?? '';
  if (match === null || BYTE_UNITS[unit] === undefined) bad(where, 'a size such as 512M, 1G or a number of bytes', value);
  return Math.round(Number(match[1]) * BYTE_UNITS[unit]!);
}

/** A non-empty string. */
export function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') bad(where, 'a non-empty string', value);
  return value;
}

/** One of `choices`. */
export function choice<T extends string>(value: unknown, where: string, choices: readonly T[]): T {
  if (typeof value !== 'string' || !choices.includes(value as T)) bad(where, `one of ${choices.join(', ')}`, value);
  return value as T;
}

/**
 * Splits a command line the way a shell would for the simple cases: spaces separate words, single
 * and double quotes group them (`--import tsx --title "my app"`).
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let started = false;
  for (const ch of line) {
    if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started || current !== '') words.push(current);
      current = '';
      started = false;
    } else {
      current += ch;
    }
  }
  if (quote !== undefined) throw new HandoffCliError(CliErrorCode.INVALID_VALUE, `unclosed ${quote} in ${JSON.stringify(line)}`);
  if (started || current !== '') words.push(current);
  return words;
}
