// The primary: binds the port and hands each connection to one of its workers. `protocol: 'tcp'`:
// a connection no worker can take is closed, not answered with an HTTP 503.
import { createPrimary } from '@handoff/orchestrator';

const primary = createPrimary({
  worker: new URL('./worker.mjs', import.meta.url),
  workers: Number(process.env.WORKERS ?? 2),
  listen: { port: Number(process.env.PORT ?? 3000), host: '127.0.0.1', protocol: 'tcp' },
});
primary.on('error', (error) => console.error(`handoff: ${error.code}: ${error.message}`));
await primary.start();
const address = primary.addresses()[0];
console.log(`listening on tcp://127.0.0.1:${address.port}`);
