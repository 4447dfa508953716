import { createPrimary, type Primary, type PrimaryOptions } from '@handoff/orchestrator';
import { killAll } from './processes.js';

/** A started primary for a test, with its port, that kills every process it ever forked on dispose. */
export interface TestPrimary extends AsyncDisposable {
  readonly primary: Primary;
  readonly port: number;
  /** Every worker pid this primary forked, replacements included. */
  readonly pids: ReadonlySet<number>;
}

/**
 * Starts a primary on 127.0.0.1 port 0 (unless `listen` is given) and records every pid it forks.
 * Use with `await using`, or call `[Symbol.asyncDispose]()` in `afterEach`: it closes the primary
 * and SIGKILLs any straggler by pid.
 */
export async function startTestPrimary(options: Omit<PrimaryOptions, 'listen'> & Partial<Pick<PrimaryOptions, 'listen'>>): Promise<TestPrimary> {
  const primary = createPrimary({ listen: { port: 0, host: '127.0.0.1' }, readyTimeout: 15_000, drainTimeout: 3000, handleSignals: false, ...options });
  const pids = new Set<number>();
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  const dispose = async (): Promise<void> => {
    try {
      await Promise.race([primary.close({ timeout: 2000 }), new Promise((r) => setTimeout(r, 8000))]);
    } finally {
      killAll(pids);
    }
  };
  try {
    await primary.start();
  } catch (error) {
    killAll(pids);
    throw error;
  }
  const address = primary.addresses()[0];
  const port = address !== undefined && 'port' in address ? address.port : 0;
  return { primary, port, pids, [Symbol.asyncDispose]: dispose };
}
