// The primary: makes the certificate once (so the workers find it), binds the port and hands each
// connection to one of its workers.
import { createPrimary } from '@handoff/orchestrator';
import { ensureCert } from '../https/cert.mjs';

await ensureCert();
const primary = createPrimary({
  worker: new URL('./worker.mjs', import.meta.url),
  workers: Number(process.env.WORKERS ?? 2),
  listen: { port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' },
});
primary.on('error', (error) => console.error(`handoff: ${error.code}: ${error.message}`));
await primary.start();
const address = primary.addresses()[0];
console.log(`listening on https://127.0.0.1:${address.port}`);
