// The primary: binds the port and hands each connection to one of its workers. `kill -TERM <pid>`
// of one worker shuts that worker down gracefully (terminus); the primary replaces it.
import { createPrimary } from '@handoff/orchestrator';

const primary = createPrimary({
  worker: new URL('./worker.mjs', import.meta.url),
  workers: Number(process.env.WORKERS ?? 2),
  listen: { port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' },
  // A worker that drains (its app closed its server, or the primary closes) may take this long.
  drainTimeout: 20_000,
});
primary.on('error', (error) => console.error(`handoff: ${error.code}: ${error.message}`));
primary.on('worker:recycle', (worker, { reason }) => console.log(`worker ${worker.pid} recycled (${reason})`));
primary.on('worker:ready', (worker) => console.log(`worker ${worker.pid} ready`));
await primary.start();
const address = primary.addresses()[0];
console.log(`listening on http://127.0.0.1:${address.port}`);
