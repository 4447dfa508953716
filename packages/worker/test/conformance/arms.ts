// The two arms of the differential conformance suite: the same app listening itself, and served by
// a real primary. Both write what their server does to a log file (see fixtures/conformance-app.mjs).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPrimary, type Primary } from '../../../orchestrator/dist/index.js';
import { balancedShared, reusePort, roundRobin, sharedHandle, type Policy } from '../../../policies/dist/index.js';
import { killAll, waitFor } from '../../../../tools/testing/src/index.js';

const fixture = fileURLToPath(new URL('../fixtures/conformance-app.mjs', import.meta.url));

export type Kind = 'http' | 'https' | 'h2' | 'h2c' | 'tls' | 'net';
export type Api = 'serve' | 'listen';
export type Mode = 'primary' | 'shared' | 'balanced' | 'reuseport';

/** One line of the app's log. */
export interface LogLine {
  readonly pid: number;
  readonly e: string;
  readonly [field: string]: unknown;
}

/** A running app: where to reach it, what it logged, how to stop it. */
export interface Arm {
  readonly name: 'alone' | 'handoff';
  readonly port: number;
  readonly tls: boolean;
  log(): LogLine[];
  /** Events logged by `pid`, in order, from line `from` on. */
  events(pid: number, from?: number): string[];
  stop(): Promise<void>;
}

/** The settings both arms of one row block share. */
export interface ArmSettings {
  readonly kind: Kind;
  readonly api: Api;
  readonly logFile: string;
  readonly env: Readonly<Record<string, string>>;
}

function reader(file: string): Pick<Arm, 'log' | 'events'> {
  const log = (): LogLine[] =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as LogLine);
  return { log, events: (pid, from = 0) => log().slice(from).filter((l) => l.pid === pid).map((l) => l.e) };
}

const isTls = (kind: Kind): boolean => kind === 'https' || kind === 'h2' || kind === 'tls';

/** The app as its user runs it without handoff: `node app.mjs`, listening itself. */
export async function startAlone(settings: ArmSettings): Promise<Arm> {
  writeFileSync(settings.logFile, '');
  const env: NodeJS.ProcessEnv = { ...process.env, ...settings.env, CONF_KIND: settings.kind, CONF_API: settings.api, CONF_LOG: settings.logFile, PORT: '0' };
  delete env.HANDOFF_WORKER_ID;
  const child = spawn(process.execPath, [fixture], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const read = reader(settings.logFile);
  await waitFor(() => read.log().some((l) => l.e === 'listening'), 10_000, 20, 'the app to listen alone');
  const port = read.log().find((l) => l.e === 'listening')!.port as number;
  return {
    name: 'alone',
    port,
    tls: isTls(settings.kind),
    ...read,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

function policyFor(mode: Mode): Policy {
  if (mode === 'shared') return sharedHandle();
  if (mode === 'balanced') return balancedShared();
  if (mode === 'reuseport') return reusePort();
  return roundRobin();
}

/** The same app under a real primary with `workers` workers: `serve()` mode, or drop-in for `listen`. */
export async function startHandoff(settings: ArmSettings, mode: Mode, workers = 2): Promise<Arm & { primary: Primary }> {
  writeFileSync(settings.logFile, '');
  const pids = new Set<number>();
  const env = { ...settings.env, CONF_KIND: settings.kind, CONF_API: settings.api, CONF_LOG: settings.logFile, PORT: '0' };
  const primary = createPrimary({
    worker: fixture,
    workers,
    ...(settings.api === 'listen' ? { dropIn: true } : { listen: { port: 0, host: '127.0.0.1' } }),
    env,
    policy: policyFor(mode),
    handleSignals: false,
    readyTimeout: 15_000,
    drainTimeout: 3000,
  });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  await primary.start();
  const address = primary.addresses()[0] as { port: number };
  return {
    name: 'handoff',
    port: address.port,
    tls: isTls(settings.kind),
    primary,
    ...reader(settings.logFile),
    async stop() {
      await primary.close({ timeout: 1000 });
      killAll(pids);
    },
  };
}

/** Where a log stands now: a row reads only the lines after it, what it caused. */
export function mark(arm: Arm): number {
  return arm.log().length;
}
