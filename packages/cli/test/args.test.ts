import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { builtinPolicies, builtinPolicyUsage, type BuiltinPolicyName } from '@handoff/policies';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommandLine } from '../src/args.js';
import { loadConfig } from '../src/config.js';
import { commandHelp } from '../src/help.js';
import { flagOf, OPTIONS } from '../src/options.js';
import { policyUsage, resolvePolicy } from '../src/policy.js';
import { primaryOptions, resolveSettings } from '../src/settings.js';
import { CliErrorCode, defineConfig, ExitCode, HandoffCliError, HandoffError, main, type HandoffConfig } from '../src/index.js';

const folders: string[] = [];
afterEach(() => {
  for (const f of folders.splice(0)) rmSync(f, { recursive: true, force: true });
});
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-args-'));
  folders.push(dir);
  return dir;
}

/** Runs `main` in-process with captured output. */
async function run(argv: string[], cwd = folder()): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void): Writable => new Writable({ write: (c, _e, cb) => (append(String(c)), cb()) });
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), env: { XDG_RUNTIME_DIR: cwd }, cwd });
  return { code, out, err };
}

function usageError(fn: () => unknown): HandoffCliError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HandoffCliError);
    expect(error).toBeInstanceOf(HandoffError);
    return error as HandoffCliError;
  }
  throw new Error('did not throw');
}

describe('flags', () => {
  it('an unknown flag names it and suggests the nearest, exit 2', async () => {
    const result = await run(['start', 'app.js', '--wrokers', '4']);
    expect(result.code).toBe(ExitCode.USAGE);
    expect(result.err).toBe('handoff: unknown option --wrokers for handoff start; did you mean --workers? (handoff start --help lists them)\n');
    expect(usageError(() => parseCommandLine(['status', '--drain-timeout', '1s'])).message).toMatch(/--drain-timeout is an option of start/);
    expect(usageError(() => parseCommandLine(['strat', 'app.js'])).message).toMatch(/unknown command "strat"; did you mean start\?/);
  });

  it('bad values name the flag and what it takes, exit 2', async () => {
    expect(usageError(() => parseCommandLine(['start', 'a.js', '-w', 'lots'])).message).toBe('--workers must be an integer >= 1, got "lots"');
    expect(usageError(() => parseCommandLine(['start', 'a.js', '--drain-timeout', 'soon'])).code).toBe(CliErrorCode.INVALID_VALUE);
    expect(usageError(() => parseCommandLine(['start', 'a.js', '--policy', 'least-conections'])).message).toMatch(/unknown policy "least-conections"; did you mean least-connections\?/);
    expect(usageError(() => parseCommandLine(['start', 'a.js', '--policy', 'ip-hash:vnode=3'])).message).toMatch(/no option "vnode"; did you mean vnodes\?/);
    expect(usageError(() => parseCommandLine(['start', 'a.js', '--port'])).message).toBe('option --port needs a value (PORT|APP:REAL)');
    expect((await run(['start', 'a.js', '--log-format', 'xml'])).code).toBe(2);
    expect((await run(['start', 'missing.js'])).err).toMatch(/the entry file .*missing\.js does not exist/);
  });

  it('reads every kind of value the table declares', () => {
    const line = parseCommandLine(['start', 'app.js', '-w', '3', '--policy', 'weighted:weights=3,1', '-p', '8080', '-p', '3001:9000', '--drain-timeout', '2.5s', '--max-memory', '512M', '--node-args', '--import tsx --title "my app"', '--watch', '--', '--app-flag', 'x']);
    expect(line.values).toMatchObject({ workers: 3, drainTimeout: 2500, maxMemory: 512 * 1024 * 1024, nodeArgs: ['--import', 'tsx', '--title', 'my app'], watch: true, port: { port: 8080, map: [{ from: 3001, to: 9000 }] } });
    expect((line.values.policy as { name: string }).name).toBe('weighted');
    expect(line.positionals).toEqual(['app.js']);
    expect(line.appArgs).toEqual(['--app-flag', 'x']);
    expect(parseCommandLine(['scale', 'web', '-1']).positionals).toEqual(['web', '-1']);
    for (const name of ['round-robin', 'least-connections', 'power-of-two-choices', 'peak-ewma', 'peak-ewma:decay=2000', 'random', 'ip-hash:vnodes=64', 'shared', 'balanced-shared:tolerance=0.1,slack=2', 'balanced-shared:busyAfter=0', 'reuseport']) expect(resolvePolicy(name, '--policy').mode).toMatch(/primary|shared|reuseport/);
  });

  it('--help of each command lists every flag of the table that applies to it', async () => {
    for (const command of ['start', 'status', 'reload', 'scale', 'stop', 'ls'] as const) {
      const help = commandHelp(command);
      for (const o of OPTIONS.filter((o) => o.commands.includes(command) && o.configOnly !== true)) expect(help).toContain(`--${flagOf(o.key)}`);
    }
    const result = await run(['start', '--help']);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^Usage: handoff start <entry>/);
    expect((await run(['--help'])).out).toMatch(/Exit codes: 0 clean/);
  });
});

describe('--policy and the built-in policies', () => {
  const names = Object.keys(builtinPolicies) as BuiltinPolicyName[];
  /** `name`, with every option it takes at a valid value (or only the ones it needs). */
  const spec = (name: BuiltinPolicyName, all: boolean): string => {
    const options = Object.entries(builtinPolicies[name].options).filter(([, o]) => all || o.required === true);
    return options.length === 0 ? name : `${name}:${options.map(([key, o]) => `${key}=${o.type === 'numbers' ? '3,1' : '1'}`).join(',')}`;
  };

  it('accepts every built-in policy of @handoff/policies by its name, with and without each option it takes', () => {
    expect(names.length).toBeGreaterThanOrEqual(10);
    for (const name of names) {
      for (const text of new Set([spec(name, false), spec(name, true)])) {
        const policy = parseCommandLine(['start', 'a.js', '--policy', text]).values.policy as { name: string; mode: string };
        expect(policy.name).toBe(name);
        expect(policy.mode).toBe(builtinPolicies[name].mode);
        expect(resolvePolicy({ name, ...Object.fromEntries(Object.entries(builtinPolicies[name].options).map(([k, o]) => [k, o.type === 'numbers' ? [3, 1] : 1])) }, 'policy').name).toBe(name);
      }
    }
  });

  it('start --help and the README show every built-in policy that drop-in mode runs, with its options', () => {
    expect(commandHelp('start').replace(/\s+/g, ' ')).toContain(policyUsage());
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const name of names) {
      if (builtinPolicies[name].mode === 'reuseport') continue;
      expect(policyUsage()).toContain(builtinPolicyUsage(name));
      expect(readme).toContain(`\`${builtinPolicyUsage(name)}\``);
    }
  });
});

describe('config files', () => {
  it('an unknown key names it and suggests the nearest, exit 2', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'handoff.config.json'), JSON.stringify({ entry: 'app.js', wokers: 2 }));
    writeFileSync(join(dir, 'app.js'), '');
    const result = await run(['start'], dir);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/handoff\.config\.json: unknown key "wokers"; did you mean "workers"\?/);
  });

  it('loads .mjs, .cjs and .json configs with values read as flags are, paths from the file folder', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.mjs'), "export default { entry: 'app.js', workers: 2, drainTimeout: '3s', policy: { name: 'ip-hash', vnodes: 32 } };");
    writeFileSync(join(dir, 'b.cjs'), "module.exports = { workers: 'auto', maxMemory: '1G', nodeArgs: ['--max-old-space-size=512'] };");
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ envFile: '.env', port: [8080, '3001:0'] }));
    expect((await loadConfig(join(dir, 'a.mjs'))).values).toMatchObject({ entry: join(dir, 'app.js'), workers: 2, drainTimeout: 3000, policy: { name: 'ip-hash' } });
    expect((await loadConfig(join(dir, 'b.cjs'))).values).toEqual({ workers: 'auto', maxMemory: 1024 ** 3, nodeArgs: ['--max-old-space-size=512'] });
    expect((await loadConfig(join(dir, 'c.json'))).values).toEqual({ envFile: join(dir, '.env'), port: { port: 8080, map: [{ from: 3001, to: 0 }] } });
    writeFileSync(join(dir, 'd.json'), JSON.stringify({ workers: 0 }));
    await expect(loadConfig(join(dir, 'd.json'))).rejects.toThrow(/workers must be an integer >= 1, got 0/);
    expect(defineConfig({ workers: 4 })).toEqual({ workers: 4 });
  });
});

describe('settings', () => {
  it('--env-file and env reach the workers, --port N is their PORT, flags override the config', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'app.js'), '');
    writeFileSync(join(dir, '.env'), 'DATABASE_URL=postgres://db\nMODE=from-file\n');
    const line = parseCommandLine(['start', 'app.js', '--env-file', '.env', '-p', '8080', '-w', '3']);
    const settings = resolveSettings(dir, { workers: 2, env: { MODE: 'from-config' }, name: 'shop' }, line.values, line.positionals, line.appArgs, false);
    expect(settings).toMatchObject({ workers: 3, name: 'shop', logFormat: 'raw', env: { DATABASE_URL: 'postgres://db', MODE: 'from-config', PORT: '8080' } });
    const options = primaryOptions(settings);
    expect(options).toMatchObject({ workers: 3, output: 'pipe', handleSignals: false, env: { PORT: '8080' } });
    expect(typeof options.dropIn === 'object' && options.dropIn.register).toMatch(/register\.js$/);
    expect(() => resolveSettings(dir, {}, parseCommandLine(['start', 'app.js', '--policy', 'reuseport']).values, ['app.js'], [], false)).toThrow(/drop-in mode/);
  });
});

describe('the options table', () => {
  it('is the config schema: HandoffConfig has exactly the keys the table allows in a config file', () => {
    // A key of HandoffConfig missing here fails to compile; a key of the table missing from HandoffConfig fails below.
    const typed: Record<keyof HandoffConfig, true> = {
      entry: true, args: true, workers: true, policy: true, port: true, host: true, name: true, nodeArgs: true, envFile: true, env: true,
      drainTimeout: true, moveOnDrain: true, readyTimeout: true, queueTimeout: true, maxPending: true, maxMemory: true, maxRequests: true, heartbeatTimeout: true,
      reloadConcurrency: true, logFormat: true, watch: true, metrics: true,
      proxyProtocol: true, proxyTrusted: true, proxyTimeout: true, listen: true, user: true, group: true, transport: true,
    };
    expect(Object.keys(typed).sort()).toEqual(OPTIONS.filter((o) => o.inConfig).map((o) => o.key).sort());
  });
});
