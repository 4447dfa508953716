// The primary's options without a process: pure validation, its defaults, and what start() reads
// from the machine (with a stand-in environment: systemd's variables for two sockets, web and admin).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { leastConnections, reusePort, roundRobin, sharedHandle } from '@handoff/policies';
import { activatedSockets } from '../src/activation.js';
import { primaryDefaults } from '../src/defaults.js';
import { resolveEnvironment, TRANSPORT_ENV } from '../src/environment.js';
import type { PrimaryOptions } from '../src/options.js';
import { resolveRegister } from '../src/preload.js';
import { PRIMARY_OPTION_KEYS, validateOptions, type ValidatedOptions } from '../src/validate-options.js';

const worker = '/srv/app/worker.js';

/** Runs `fn` and returns the HANDOFF_ERR_INVALID_OPTION it throws (fails the test otherwise). */
function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect((error as { code?: string }).code).toBe('HANDOFF_ERR_INVALID_OPTION');
    return (error as Error).message;
  }
  throw new Error('expected HANDOFF_ERR_INVALID_OPTION, nothing was thrown');
}

const validate = (options: object): ValidatedOptions => validateOptions(options as PrimaryOptions);

/** Keys that are options nowhere: what a typo or a stranger's option looks like. */
const unknownKey = (known: readonly string[]) => fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !known.includes(k) && k !== '__proto__');

beforeAll(() => {
  // The first read takes the sockets for the whole process (as sd_listen_fds does): two named ones.
  activatedSockets({ LISTEN_PID: String(process.pid), LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin' });
});

describe('primaryDefaults', () => {
  it('is frozen all the way down, and leaves the policy factory it holds unfrozen', () => {
    const frozen = (value: unknown): boolean =>
      typeof value !== 'object' || value === null || (Object.isFrozen(value) && Object.values(value).every(frozen));
    expect(frozen(primaryDefaults)).toBe(true);
    expect(() => {
      (primaryDefaults as { drainTimeout: number }).drainTimeout = 1;
    }).toThrow(TypeError);
    expect(() => {
      (primaryDefaults.restart as { maxDelay: number }).maxDelay = 1;
    }).toThrow(TypeError);
    expect(Object.isFrozen(roundRobin)).toBe(false);
    expect(primaryDefaults.policy().name).toBe('round-robin');
  });

  it('fills every option left out', () => {
    const d = primaryDefaults;
    const v = validate({ worker, listen: 3000 });
    expect(v).toEqual({
      worker,
      workers: d.workers,
      listen: [{ port: 3000 }],
      dropIn: undefined,
      policy: expect.objectContaining({ name: 'round-robin', mode: 'primary' }),
      args: d.args,
      execArgv: undefined,
      env: d.env,
      readyTimeout: d.readyTimeout,
      drainTimeout: d.drainTimeout,
      maxPending: d.maxPending,
      queueTimeout: d.queueTimeout,
      restart: d.restart,
      heartbeatInterval: d.heartbeatInterval,
      heartbeatTimeout: d.heartbeatTimeout,
      maxRequests: d.maxRequests,
      maxRequestsJitter: 0,
      maxMemory: d.maxMemory,
      reloadConcurrency: d.reloadConcurrency,
      handleSignals: d.handleSignals,
      reloadOnSighup: d.reloadOnSighup,
      moveOnDrain: d.moveOnDrain,
      output: d.output,
      account: undefined,
      transport: undefined,
    });
    // Each primary gets a policy of its own: a round-robin cursor is state.
    expect(validate({ worker, listen: 0 }).policy).not.toBe(v.policy);
  });

  it('proxyProtocol: true takes the proxyProtocol defaults', () => {
    const v = validate({ worker, listen: { port: 0, proxyProtocol: true } });
    expect(v.listen[0]).toEqual({ port: 0, proxyProtocol: { trusted: undefined, ...primaryDefaults.proxyProtocol } });
  });

  it('maxRequestsJitter is maxRequestsJitterPercent of maxRequests, floored, unless given', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), (maxRequests) => {
        expect(validate({ worker, listen: 0, maxRequests }).maxRequestsJitter).toBe(Math.floor((maxRequests * primaryDefaults.maxRequestsJitterPercent) / 100));
        expect(validate({ worker, listen: 0, maxRequests, maxRequestsJitter: 7 }).maxRequestsJitter).toBe(7);
      }),
    );
  });
});

/** A valid listener: a port, a path, a passed socket (by descriptor or name), or 'systemd'. */
const proxyProtocol = fc.oneof(
  fc.boolean(),
  fc.record(
    {
      trusted: fc.constantFrom(['10.0.0.0/8'], ['::1', '127.0.0.0/8']),
      timeout: fc.integer({ min: 1, max: 2_147_483_647 }),
      maxHeaderBytes: fc.integer({ min: 107, max: 65_536 }),
      maxPending: fc.integer({ min: 1, max: 1e6 }),
    },
    { requiredKeys: [] },
  ),
);
const protocol = fc.constantFrom('http' as const, 'tcp' as const);
const port = fc.integer({ min: 0, max: 65535 });
const listener = fc.oneof(
  fc.record({ port: fc.integer({ min: 0, max: 65535 }), host: fc.constantFrom('127.0.0.1', '::', 'localhost'), backlog: fc.integer({ min: 1, max: 65535 }), ipv6Only: fc.boolean(), protocol, proxyProtocol }, { requiredKeys: ['port'] }),
  fc.record({ path: fc.constantFrom('/run/app.sock', 'app.sock'), backlog: fc.integer({ min: 1, max: 4096 }), protocol, proxyProtocol }, { requiredKeys: ['path'] }),
  fc.record({ fd: fc.constantFrom(3, 4), protocol, proxyProtocol }, { requiredKeys: ['fd'] }),
  fc.record({ fdName: fc.constantFrom('web', 'admin'), protocol, proxyProtocol }, { requiredKeys: ['fdName'] }),
  fc.constant('systemd' as const),
);
const timeout = (min: number) => fc.integer({ min, max: 1e7 });
/** Valid options, each key present or left out. */
const validOptions = fc.record(
  {
    worker: fc.constantFrom(worker, 'file:///srv/app/worker.mjs', new URL('file:///srv/app/w.js')),
    workers: fc.oneof(fc.constant('auto' as const), fc.integer({ min: 1, max: 256 })),
    listen: fc.oneof(port, listener, fc.array(listener, { minLength: 1, maxLength: 3 })),
    policy: fc.constantFrom(roundRobin, leastConnections, sharedHandle).map((make) => make()),
    args: fc.array(fc.string(), { maxLength: 3 }),
    execArgv: fc.array(fc.constantFrom('--enable-source-maps', '--max-old-space-size=512'), { maxLength: 2 }),
    env: fc.dictionary(fc.constantFrom('A', 'B', 'PORT'), fc.string()),
    readyTimeout: timeout(1),
    drainTimeout: timeout(0),
    maxPending: timeout(0),
    queueTimeout: timeout(1),
    restart: fc.record({ initialDelay: timeout(0), maxDelay: timeout(0), crashLoopCount: timeout(1), crashLoopWindow: timeout(1) }, { requiredKeys: [] }),
    heartbeatInterval: timeout(10),
    heartbeatTimeout: timeout(0),
    maxRequests: timeout(0),
    maxRequestsJitter: timeout(0),
    maxMemory: fc.integer({ min: 0, max: 2 ** 40 }),
    reloadConcurrency: fc.integer({ min: 1, max: 64 }),
    handleSignals: fc.boolean(),
    reloadOnSighup: fc.boolean(),
    moveOnDrain: fc.boolean(),
    output: fc.constantFrom('inherit' as const, 'pipe' as const),
    transport: fc.constantFrom('auto' as const, 'native' as const, 'ipc' as const),
  },
  { requiredKeys: ['worker', 'listen'] },
);

/** Options in drop-in mode (no `listen`): ports mapped to ports or to passed sockets. */
const dropInOptions = fc.record({
  worker: fc.constant(worker),
  policy: fc.constantFrom(roundRobin, sharedHandle).map((make) => make()),
  dropIn: fc.oneof(
    fc.constant(true),
    fc.record(
      {
        ports: fc.dictionary(fc.integer({ min: 0, max: 65535 }).map(String), fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.constant({ fdName: 'admin' }), fc.constant({ fd: 3 }))),
        proxyProtocol,
        register: fc.constantFrom('@handoff/worker/register', '/opt/register.js'),
        host: fc.constantFrom('127.0.0.1', '::'),
      },
      { requiredKeys: [] },
    ),
  ),
});

describe('validateOptions: every valid combination', () => {
  it('resolves, keeps what was given and fills the rest from primaryDefaults', () => {
    fc.assert(
      fc.property(validOptions, (options) => {
        const v = validate(options);
        const given = options as Record<string, unknown>;
        for (const key of ['readyTimeout', 'drainTimeout', 'maxPending', 'queueTimeout', 'heartbeatInterval', 'heartbeatTimeout', 'maxRequests', 'maxMemory', 'reloadConcurrency', 'handleSignals', 'reloadOnSighup', 'moveOnDrain', 'output'] as const) {
          expect(v[key]).toBe(given[key] ?? primaryDefaults[key]);
        }
        expect(v.restart).toEqual({ ...primaryDefaults.restart, ...options.restart });
        expect(v.workers).toBe(options.workers ?? primaryDefaults.workers);
        expect(v.args).toEqual(options.args ?? primaryDefaults.args);
        expect(v.execArgv).toEqual(options.execArgv);
        expect(v.transport).toBe(options.transport);
        expect(v.worker).toBe('/srv/app/' + (options.worker === worker ? 'worker.js' : typeof options.worker === 'string' ? 'worker.mjs' : 'w.js'));
        expect(v.listen).toHaveLength(Array.isArray(options.listen) ? options.listen.length : 1);
        if (options.policy !== undefined) expect(v.policy).toBe(options.policy);
      }),
    );
  });

  it('and start() completes it from the machine: the passed sockets found, the CPUs counted', () => {
    fc.assert(
      fc.property(validOptions, (options) => {
        const r = resolveEnvironment(validate(options), {});
        expect(Number.isInteger(r.workers) && r.workers >= 1).toBe(true);
        if (options.workers !== undefined && options.workers !== 'auto') expect(r.workers).toBe(options.workers);
        expect(r.transport).toBe(options.transport ?? primaryDefaults.transport);
        expect(r.execArgv).toEqual(options.execArgv ?? process.execArgv);
        const entries: readonly unknown[] = Array.isArray(options.listen) ? options.listen : [options.listen];
        const systemd = entries.filter((e) => e === 'systemd').length;
        expect(r.listen).toHaveLength(entries.length + systemd); // 'systemd' is two sockets here
        for (const l of r.listen) {
          if ('fd' in l) expect(l).toMatchObject({ fd: l.fdName === 'web' ? 3 : 4, fdName: expect.stringMatching(/^(web|admin)$/) });
        }
      }),
    );
  });

  it('drop-in: ports map to ports or passed sockets, and the preload resolves', () => {
    fc.assert(
      fc.property(dropInOptions, (options) => {
        const r = resolveEnvironment(validate(options), {});
        expect(r.listen).toEqual([]);
        expect(r.dropIn).toBeDefined();
        const ports = options.dropIn === true ? {} : (options.dropIn.ports ?? {});
        expect(r.dropIn!.ports.size).toBe(Object.keys(ports).length);
        for (const [app, to] of Object.entries(ports)) {
          expect(r.dropIn!.ports.get(Number(app))).toEqual(typeof to === 'number' ? to : 'fd' in to ? { fd: 3, fdName: 'web' } : { fd: 4, fdName: 'admin' });
        }
        const register = options.dropIn === true ? undefined : options.dropIn.register;
        // Left out: the copy of @handoff/worker the worker module would import (module resolution: the machine's).
        expect(r.dropIn!.register).toBe(register === '/opt/register.js' ? 'file:///opt/register.js' : (register ?? resolveRegister(worker, undefined)));
      }),
    );
  });
});

describe('validateOptions: refusals name the option', () => {
  it('any unknown option of createPrimary() is refused by its name', () => {
    fc.assert(
      fc.property(unknownKey(PRIMARY_OPTION_KEYS), (key) => {
        expect(refusal(() => validate({ worker, listen: 0, [key]: 1 }))).toBe(`${key} is not an option of createPrimary(); use ${PRIMARY_OPTION_KEYS.join(', ')}`);
      }),
    );
  });

  it('any unknown key of restart, dropIn, a listener or proxyProtocol is refused by its path', () => {
    const places: Array<[readonly string[], (key: string) => object, (key: string) => string]> = [
      [['initialDelay', 'maxDelay', 'crashLoopCount', 'crashLoopWindow'], (k) => ({ worker, listen: 0, restart: { [k]: 1 } }), (k) => `restart.${k} is not an option of restart`],
      [['ports', 'proxyProtocol', 'register', 'host', 'sockets'], (k) => ({ worker, dropIn: { [k]: 1 } }), (k) => `dropIn.${k} is not an option of dropIn`],
      // fd and fdName make a listener one on a passed socket: their own case below.
      [['port', 'host', 'backlog', 'ipv6Only', 'protocol', 'proxyProtocol', 'fd', 'fdName'], (k) => ({ worker, listen: { port: 0, [k]: 1 } }), (k) => `listen.${k} is not an option of a listener`],
      [['path', 'backlog', 'protocol', 'proxyProtocol', 'fd', 'fdName'], (k) => ({ worker, listen: [{ port: 0 }, { path: '/run/a.sock', [k]: 1 }] }), (k) => `listen[1].${k} is not an option of a listener`],
      [['fd', 'fdName', 'protocol', 'proxyProtocol'], (k) => ({ worker, listen: { fd: 3, [k]: 1 } }), (k) => `listen.${k} is not an option of a listener on a passed socket`],
      [['trusted', 'timeout', 'maxHeaderBytes', 'maxPending'], (k) => ({ worker, listen: { port: 0, proxyProtocol: { [k]: 1 } } }), (k) => `listen.proxyProtocol.${k} is not an option of proxyProtocol`],
      [['fd', 'fdName'], (k) => ({ worker, dropIn: { ports: { 3000: { fd: 3, [k]: 1 } } } }), (k) => `dropIn.ports[3000].${k} is not an option of a passed socket`],
    ];
    for (const [known, options, message] of places) {
      fc.assert(
        fc.property(unknownKey(known), (key) => {
          expect(refusal(() => validate(options(key)))).toContain(message(key));
        }),
        { numRuns: 50 },
      );
    }
  });

  it('a number option that is no integer, or below its least, is refused naming it and its least', () => {
    const least: Record<string, number> = {
      workers: 1, readyTimeout: 1, drainTimeout: 0, maxPending: 0, queueTimeout: 1, heartbeatInterval: 10, heartbeatTimeout: 0,
      maxRequests: 0, maxRequestsJitter: 0, maxMemory: 0, reloadConcurrency: 1,
    };
    const bad = (min: number) => fc.oneof(fc.integer({ max: min - 1 }), fc.double({ noInteger: true }), fc.string().filter((s) => s !== 'auto'), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(least)).chain((key) => fc.tuple(fc.constant(key), bad(least[key]!))), ([key, value]) => {
        expect(refusal(() => validate({ worker, listen: 0, [key]: value }))).toBe(`option ${key} must be an integer >= ${least[key]}, got ${JSON.stringify(value)}`);
      }),
    );
    fc.assert(
      fc.property(fc.constantFrom('initialDelay', 'crashLoopCount'), fc.integer({ max: -1 }), (key, value) => {
        expect(refusal(() => validate({ worker, listen: 0, restart: { [key]: value } }))).toContain(`option restart.${key} must be an integer`);
      }),
    );
  });

  it('a switch that is not true or false is refused naming it', () => {
    fc.assert(
      fc.property(fc.constantFrom('handleSignals', 'reloadOnSighup', 'moveOnDrain'), fc.oneof(fc.integer(), fc.string(), fc.constant(null)), (key, value) => {
        expect(refusal(() => validate({ worker, listen: 0, [key]: value }))).toBe(`option ${key} must be true or false, got ${JSON.stringify(value)}`);
      }),
    );
  });

  it.each([
    [{ listen: 3000 }, 'option worker is required'],
    [{ worker }, 'option listen is required'],
    [{ worker, listen: 70000 }, 'listen.port must be an integer in 0..65535'],
    [{ worker, listen: [{ port: 0 }, { port: 'x' }] }, 'listen[1].port'],
    [{ worker, listen: [{ port: 0 }, 'x'] }, "listen[1] must be { port, host? }, { path }, { fd }, { fdName } or 'systemd'"],
    [{ worker, listen: { path: '' } }, 'listen.path must not be empty'],
    [{ worker, listen: { fd: 2 } }, 'listen.fd must be an integer >= 3'],
    [{ worker, listen: { fdName: '' } }, "listen.fdName must be a socket's FileDescriptorName="],
    [{ worker, listen: { port: 0, ipv6Only: 'yes' } }, 'option listen.ipv6Only must be true or false'],
    [{ worker, listen: { port: 0, protocol: 'udp' } }, "listen.protocol must be 'http' or 'tcp'"],
    [{ worker, listen: { port: 0, proxyProtocol: { trusted: ['10.0.0.0/99'] } } }, 'listen.proxyProtocol.trusted'],
    [{ worker, listen: { port: 0, proxyProtocol: { maxHeaderBytes: 70_000 } } }, 'listen.proxyProtocol.maxHeaderBytes must be at most 65536'],
    [{ worker, listen: 0, policy: { mode: 'nope' } }, 'option policy must be a policy object'],
    [{ worker, listen: 0, policy: { mode: 'primary', name: 'x' } }, "policy x of mode 'primary' must have a pick(workers, info) function"],
    [{ worker, listen: 0, restart: 5 }, 'option restart must be'],
    [{ worker, listen: 0, env: { A: 1 } }, 'option env must be an object of strings'],
    [{ worker, listen: 0, args: 'x' }, 'option args must be an array of strings'],
    [{ worker, listen: 0, output: 'file' }, "option output must be 'inherit' or 'pipe'"],
    [{ worker, listen: 0, transport: 'fast' }, "option transport must be 'auto', 'native' or 'ipc'"],
    [{ worker, listen: 0, group: 'nogroup' }, 'option group needs user too'],
    [{ worker, listen: 0, user: -1 }, 'option user must be a user name or a numeric uid'],
    [{ worker, listen: 0, user: 'app', group: '' }, 'option group must be a group name or a numeric gid'],
    [{ worker, listen: 0, dropIn: true }, 'option listen must be left out with dropIn'],
    [{ worker, dropIn: 'yes' }, 'option dropIn must be true, false or'],
    [{ worker, dropIn: true, policy: reusePort() }, 'option dropIn works with policies of mode primary and shared'],
    [{ worker, dropIn: { ports: { 3000: 70000 } } }, 'dropIn.ports must map ports to ports'],
    [{ worker, dropIn: { ports: [] } }, 'dropIn.ports must map app ports to ports or passed sockets'],
    [{ worker, dropIn: { register: '' } }, 'dropIn.register must be a module specifier or path'],
  ])('refuses %j', (options, message) => {
    expect(refusal(() => validate(options))).toContain(message);
  });
});

describe('validateOptions reads nothing of the machine', () => {
  it('leaves systemd, users, the CPUs and HANDOFF_TRANSPORT to start()', () => {
    const before = process.env[TRANSPORT_ENV];
    process.env[TRANSPORT_ENV] = 'fast';
    try {
      const v = validate({ worker, listen: ['systemd', { fdName: 'nowhere' }], user: 'no-such-user-here', workers: 'auto' });
      expect(v).toMatchObject({ workers: 'auto', listen: ['systemd', { fdName: 'nowhere' }], account: { user: 'no-such-user-here', group: undefined }, transport: undefined, execArgv: undefined });
      expect(validate({ worker, dropIn: { ports: { 3000: 'systemd', 3001: { fdName: 'nowhere' } } } }).dropIn).toMatchObject({ ports: new Map<number, unknown>([[3000, 'systemd'], [3001, { fdName: 'nowhere' }]]), register: undefined });
    } finally {
      if (before === undefined) delete process.env[TRANSPORT_ENV];
      else process.env[TRANSPORT_ENV] = before;
    }
  });
});

describe('resolveEnvironment (start())', () => {
  const start = (options: object, env: NodeJS.ProcessEnv = {}) => resolveEnvironment(validate(options), env);

  it('reads HANDOFF_TRANSPORT where transport is left out, refuses one that names none, and lets the option win', () => {
    expect(start({ worker, listen: 0 }, { [TRANSPORT_ENV]: 'ipc' }).transport).toBe('ipc');
    expect(start({ worker, listen: 0 }, { [TRANSPORT_ENV]: '' }).transport).toBe(primaryDefaults.transport);
    expect(refusal(() => start({ worker, listen: 0 }, { [TRANSPORT_ENV]: 'fast' }))).toContain(`option transport is left out and ${TRANSPORT_ENV}="fast" names none`);
    expect(start({ worker, listen: 0, transport: 'native' }, { [TRANSPORT_ENV]: 'fast' }).transport).toBe('native');
  });

  it("expands 'systemd' into every passed socket, finds one by name, names one by descriptor", () => {
    expect(start({ worker, listen: ['systemd', { port: 0 }] }).listen).toEqual([{ fd: 3, fdName: 'web' }, { fd: 4, fdName: 'admin' }, { port: 0 }]);
    expect(start({ worker, listen: { fdName: 'admin', protocol: 'tcp' } }).listen).toEqual([{ fdName: 'admin', fd: 4, protocol: 'tcp' }]);
    expect(start({ worker, listen: { fd: 3 } }).listen).toEqual([{ fd: 3, fdName: 'web' }]);
    expect(start({ worker, listen: { fd: 9 } }).listen).toEqual([{ fd: 9 }]);
  });

  it.each([
    [{ worker, listen: { fdName: 'nowhere' } }, 'listen.fdName: systemd passed no socket named "nowhere" (passed: web, admin)'],
    [{ worker, listen: [{ port: 0 }, { fdName: 'web', fd: 4 }] }, 'listen[1].fdName: systemd passed no socket named "web"'],
    [{ worker, dropIn: { ports: { 3000: 'systemd' } } }, "dropIn.ports[3000] is 'systemd' but systemd passed 2 sockets (web, admin); pick one by name: { fdName }"],
    [{ worker, listen: 0, user: 'no-such-user-here' }, 'option user: no user "no-such-user-here" in /etc/passwd'],
  ])('refuses %j, naming the option', (options, message) => {
    expect(refusal(() => start(options))).toContain(message);
  });
});

describe('the docs say what primaryDefaults holds', () => {
  const read = (path: string): string => readFileSync(new URL(path, import.meta.url), 'utf8');
  /** The default at a dotted path (`restart.maxDelay`), or undefined where it has none. */
  const at = (path: string): unknown => path.split('.').reduce<unknown>((o, k) => (typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[k] : undefined), primaryDefaults);
  /** A default written as code (`511`, `'http'`, `false`, `[]`), or undefined where it is prose. */
  const literal = (text: string): { value: unknown } | undefined => {
    if (/^-?\d+$/.test(text)) return { value: Number(text) };
    if (/^'[^']*'$/.test(text)) return { value: text.slice(1, -1) };
    if (text === 'true' || text === 'false') return { value: text === 'true' };
    if (text === '[]' || text === '{}') return { value: JSON.parse(text) };
    return undefined;
  };
  /** Defaults that are prose, not a value: what each must say. */
  const described: Record<string, string> = {
    policy: `${primaryDefaults.policy.name}()`,
    execArgv: 'process.execArgv',
    maxRequestsJitter: `${primaryDefaults.maxRequestsJitterPercent}% of maxRequests`,
    group: "the user's primary group",
    'listener.host': "'::' then '0.0.0.0', as Node's `listen` does",
    'dropIn.register': "'@handoff/worker/register', resolved from the worker module",
  };
  /** Where an option's default lives in primaryDefaults, where that is not its own path. */
  const homeOf = (path: string): string => (path === 'dropIn.proxyProtocol' ? 'listener.proxyProtocol' : path);
  /** The leaves every doc must cover: each default that is a plain value. */
  const leaves = (o: object, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length > 0 ? leaves(v, `${prefix}${k}.`) : typeof v === 'function' ? [] : [`${prefix}${k}`]));

  it("every @default in the options' JSDoc is primaryDefaults' value, and every default has one", () => {
    const source = read('../src/options.ts');
    const prefix: Record<string, string> = { PrimaryOptions: '', RestartOptions: 'restart.', ProxyProtocolOptions: 'proxyProtocol.', ListenOption: 'listener.', FdListenOption: 'listener.', DropInOptions: 'dropIn.' };
    const seen = new Set<string>();
    for (const m of source.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*readonly (\w+)\??:/g)) {
      const doc = /@default\s+([^\n]*?)\s*(?:\*\/)?$/m.exec(m[1]!)?.[1];
      if (doc === undefined) continue;
      const owner = [...source.slice(0, m.index).matchAll(/export (?:interface|type) (\w+)/g)].pop()![1]!;
      expect(prefix, `a @default in ${owner}`).toHaveProperty([owner]);
      const path = `${prefix[owner]}${m[2]}`;
      seen.add(homeOf(path));
      const value = literal(doc);
      if (value === undefined) expect(doc, path).toBe(described[path]);
      else expect(value.value, path).toEqual(at(homeOf(path)));
    }
    const undocumented = leaves(primaryDefaults).filter((path) => !seen.has(path) && !['args', 'env', 'maxRequestsJitterPercent'].includes(path));
    expect(undocumented).toEqual([]);
  });

  it("the orchestrator README's options table says primaryDefaults' values", () => {
    const readme = read('../README.md');
    const table = readme.slice(readme.indexOf('## Options'), readme.indexOf('\n## ', readme.indexOf('## Options') + 1));
    const seen = new Set<string>();
    for (const row of table.split('\n').filter((l) => l.startsWith('| `'))) {
      const [, names, defaults] = row.split(/ \| |^\| /);
      const keys = [...names!.matchAll(/`([^`]+)`/g)].map((n) => n[1]!.replace('listen[].', 'listener.'));
      // "`100`, `10000`": one default per name, split at commas outside parentheses.
      const parts = keys.length === 1 ? [defaults!] : defaults!.split(/,\s+(?![^(]*\))/);
      keys.forEach((key, i) => {
        const part = parts[i] ?? '';
        const code = /`([^`]+)`/.exec(part)?.[1];
        if (key === 'maxRequestsJitter') expect(part.trim()).toBe(`${primaryDefaults.maxRequestsJitterPercent}%`);
        if (at(key) === undefined || code === undefined) return;
        seen.add(key);
        const value = literal(code);
        if (value === undefined) expect(code, key).toBe(key === 'policy' ? described.policy : key === 'execArgv' ? 'process.execArgv' : '(a value)');
        else expect(value.value, key).toEqual(at(key));
      });
    }
    const topLevel = Object.entries(primaryDefaults).filter(([k, v]) => typeof v !== 'object' && typeof v !== 'function' && k !== 'maxRequestsJitterPercent').map(([k]) => k);
    expect(topLevel.filter((k) => !seen.has(k))).toEqual([]);
  });

  it('the prose that names a default says its value (errors, deploy recipes, stop timings)', () => {
    const drain = primaryDefaults.drainTimeout / 1000;
    const said: Array<[string, string]> = [
      ['../../../docs/errors.md', `\`proxyProtocol.maxHeaderBytes\` (default ${primaryDefaults.proxyProtocol.maxHeaderBytes})`],
      ['../../../docs/errors.md', `\`proxyProtocol.timeout\` (default ${primaryDefaults.proxyProtocol.timeout / 1000} s)`],
      ['../../../docs/deploy/README.md', `\`timeout\` (${primaryDefaults.proxyProtocol.timeout / 1000} s by default)`],
      ['../../../docs/deploy/README.md', `(\`drainTimeout\` ${drain} s by default)`],
      ['../../../docs/deploy/Dockerfile', `(drainTimeout ${drain} s, then`],
      ['../../../docs/deploy/handoff.service', `(--drain-timeout, ${drain} s by default)`],
      ['../README.md', `\`drainTimeout\` (default ${drain} s)`],
    ];
    for (const [file, text] of said) expect(read(file), file).toContain(text);
  });
});
