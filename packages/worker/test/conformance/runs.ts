// The listen() rows' two arms: one scenario of fixtures/listen-forms-app.mjs run to its end, alone
// (`node app.mjs`) and as the one drop-in worker of a real primary; each returns what the app logged
// and how its process ended (on its own, as alone: the primary holds it open only while it listens).
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createPrimary } from '../../../orchestrator/dist/index.js';
import { killAll } from '../../../../tools/testing/src/index.js';

const fixture = fileURLToPath(new URL('../fixtures/listen-forms-app.mjs', import.meta.url));

/** What one run of a scenario showed. */
export interface ScenarioRun {
  readonly log: ReadonlyArray<Record<string, unknown>>;
  readonly exit: { readonly code: number | null; readonly signal: string | null };
}

const read = (file: string): Array<Record<string, unknown>> =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** The scenario alone: `node listen-forms-app.mjs`, until the process ends by itself. */
export async function runAlone(scenario: string, logFile: string, timeoutMs = 20_000): Promise<ScenarioRun> {
  writeFileSync(logFile, '');
  const env: NodeJS.ProcessEnv = { ...process.env, LISTEN_CASE: scenario, LISTEN_LOG: logFile };
  delete env.HANDOFF_WORKER_ID;
  const child = spawn(process.execPath, [fixture], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exit = await new Promise<ScenarioRun['exit']>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  clearTimeout(timer);
  return { log: read(logFile), exit };
}

/** The scenario as the one drop-in worker of a primary, until that worker ends by itself. */
export async function runHandoff(scenario: string, logFile: string, timeoutMs = 20_000): Promise<ScenarioRun> {
  writeFileSync(logFile, '');
  const pids = new Set<number>();
  const primary = createPrimary({
    worker: fixture,
    workers: 1,
    dropIn: true,
    env: { LISTEN_CASE: scenario, LISTEN_LOG: logFile },
    handleSignals: false,
    readyTimeout: timeoutMs,
    // The run ends with the worker: no replacement runs the scenario again meanwhile.
    restart: { initialDelay: 60_000 },
  });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  try {
    const exit = await new Promise<ScenarioRun['exit']>((resolve) => {
      const timer = setTimeout(() => resolve({ code: null, signal: 'timeout' }), timeoutMs);
      primary.on('worker:exit', (_w, { code, signal }) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
      // A scenario may end before it is ready (its servers closed at once): the exit says how it went.
      primary.start().catch(() => undefined);
    });
    return { log: read(logFile), exit };
  } finally {
    await primary.close({ timeout: 1000 }).catch(() => undefined);
    killAll(pids);
  }
}
