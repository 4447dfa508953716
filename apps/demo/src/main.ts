#!/usr/bin/env node
import { createPrimary, HandoffError } from '@handoff/orchestrator';
import { ConfigError, policyFor, readConfig } from './config.js';

/**
 * The demo's primary: `PORT`, `HOST`, `WORKERS`, `POLICY`, `WEIGHTS` (or `--port`, `--host`,
 * `--workers`, `--policy`, `--weights`). Prints one line once every worker is ready; Ctrl-C or SIGTERM drains and exits,
 * SIGHUP reloads the workers without dropping a request.
 */
async function main(): Promise<void> {
  const config = readConfig(process.argv.slice(2), process.env);
  const primary = createPrimary({
    worker: new URL('./worker.js', import.meta.url),
    workers: config.workers,
    listen: { port: config.port, host: config.host },
    policy: policyFor(config),
    reloadOnSighup: true,
  });
  primary.on('error', (error) => console.error(`handoff: ${error.code}: ${error.message}`));
  primary.on('reload:end', ({ replaced, error }) =>
    error === undefined ? console.log(`reloaded (${replaced} workers replaced)`) : console.error(`handoff: reload aborted: ${error.message}`),
  );
  primary.on('worker:crash-loop', ({ crashes, windowMs }) => console.error(`handoff: workers crash in a loop (${crashes} in ${windowMs} ms)`));
  await primary.start();
  const address = primary.addresses()[0]!;
  const port = 'port' in address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  // Mode primary: what the connections cross on (native where @handoff/fdpass built at install).
  const transport = primary.workers().find((w) => w.transport !== null)?.transport;
  console.log(`listening on http://${host}:${port} (${config.workers} workers, policy ${config.policy}${transport === undefined ? '' : `, transport ${transport}`})`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof HandoffError) {
    console.error(`handoff demo: ${error.message}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
