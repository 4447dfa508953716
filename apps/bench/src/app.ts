import type { IncomingMessage, ServerResponse } from 'node:http';

/** CPU each `/burn` request spends, in ms: the "mixed" workload's slow requests. */
export const BURN_MS = 10;

const body = Buffer.from(`pid:${process.pid}`);

/**
 * The one app every server under test runs: hello world that names its process (so the load
 * generator can count each worker's share), and `/burn`, which spends {@link BURN_MS} of CPU.
 */
export function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/burn') {
    const until = performance.now() + BURN_MS;
    while (performance.now() < until);
  }
  res.setHeader('content-type', 'text/plain');
  res.end(body);
}
