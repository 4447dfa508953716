// The CLI's defaults are the primary's (primaryDefaults), wherever the CLI says them: --help, the
// README's table of flags, the config file's JSDoc. No process.
import { readFileSync } from 'node:fs';
import { primaryDefaults } from '@handoff/orchestrator';
import { describe, expect, it } from 'vitest';
import { commandHelp } from '../src/help.js';
import { flagOf, OPTIONS } from '../src/options.js';
import { resolveSettings } from '../src/settings.js';

/** The config keys whose default is the primary's, and that default as a value. */
const PRIMARY: Record<string, unknown> = {
  workers: primaryDefaults.workers,
  policy: primaryDefaults.policy().name,
  drainTimeout: primaryDefaults.drainTimeout,
  moveOnDrain: primaryDefaults.moveOnDrain,
  readyTimeout: primaryDefaults.readyTimeout,
  queueTimeout: primaryDefaults.queueTimeout,
  maxPending: primaryDefaults.maxPending,
  maxMemory: primaryDefaults.maxMemory,
  maxRequests: primaryDefaults.maxRequests,
  heartbeatTimeout: primaryDefaults.heartbeatTimeout,
  reloadConcurrency: primaryDefaults.reloadConcurrency,
  proxyProtocol: primaryDefaults.listener.proxyProtocol,
  proxyTimeout: primaryDefaults.proxyProtocol.timeout,
  transport: primaryDefaults.transport,
};

/** How the CLI writes a value: a duration (`8s`), `on`/`off`, `off` for a limit of 0, else as is. */
function shown(key: string, value: unknown): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (value === 0) return 'off';
  if (typeof value === 'number' && /Timeout$/.test(key)) return value % 1000 === 0 ? `${value / 1000}s` : `${value}ms`;
  return String(value);
}

describe("the CLI's defaults are primaryDefaults", () => {
  it('handoff start --help prints them', () => {
    const help = commandHelp('start');
    for (const [key, value] of Object.entries(PRIMARY)) {
      const option = OPTIONS.find((o) => o.key === key)!;
      const text = key === 'transport' ? `${shown(key, value)} (or HANDOFF_TRANSPORT)` : shown(key, value);
      expect(option.defaultText, key).toBe(text);
      expect(help).toContain(`(default: ${text})`);
    }
  });

  it("the README's table of flags says them", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = readme.split('\n').filter((l) => l.startsWith('| `-'));
    for (const key of Object.keys(PRIMARY)) {
      const flag = `--${flagOf(key)}`;
      const row = rows.find((r) => r.split(' | ')[0]!.match(/--[a-z-]+/g)?.includes(flag));
      expect(row, flag).toBeDefined();
      const [flags, , defaults] = row!.slice(2, -2).split(' | ');
      const names = flags!.match(/--[a-z-]+/g)!;
      // "`8s` (a stop ends …), `30s`, `5s`": one default per flag, split at commas outside parentheses.
      const parts = names.length === 1 ? [defaults!] : defaults!.split(/,\s+(?![^(]*\))/);
      const part = (parts.length === names.length ? parts[names.indexOf(flag)] : parts[0])!;
      const said = part.replace(/`/g, '').replace(/ \((?!or HANDOFF)[^)]*\)$/, '').trim();
      expect(said, flag).toBe(OPTIONS.find((o) => o.key === key)!.defaultText);
    }
  });

  it("the config file's JSDoc (@default) says them", () => {
    const source = readFileSync(new URL('../src/options.ts', import.meta.url), 'utf8');
    const config = source.slice(source.indexOf('export interface HandoffConfig'), source.indexOf('\n}\n', source.indexOf('export interface HandoffConfig')));
    const documented = new Map([...config.matchAll(/@default ([^\n]*?) \*\/\s*readonly (\w+)\?:/g)].map((m) => [m[2]!, m[1]!]));
    for (const [key, value] of Object.entries(PRIMARY)) {
      const doc = documented.get(key);
      expect(doc, key).toBeDefined();
      // off, false and 0 say the same: none.
      const plain = (v: unknown): unknown => (v === 'off' || v === 'false' || v === false || v === 0 ? 'off' : v === 'true' || v === true ? 'on' : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : typeof v === 'string' ? v.replace(/^'|'$/g, '') : v);
      expect(plain(doc), key).toBe(plain(value));
    }
  });

  it('start settings fill the drain deadline and the worker count from them', () => {
    const entry = new URL(import.meta.url).pathname;
    const settings = resolveSettings('/', {}, {}, [entry], [], false);
    expect(settings.drainTimeout).toBe(primaryDefaults.drainTimeout);
    expect(settings.workers).toBe(primaryDefaults.workers);
    expect(settings.policy.name).toBe(primaryDefaults.policy().name);
  });
});
