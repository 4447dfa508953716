// Runs the unmodified NestJS app (app.mjs) on every core: dropIn makes its own app.listen(3000)
// take its connections from this primary.
import { createPrimary } from '@handoff/orchestrator';

const port = Number(process.env.PORT ?? 3000);
const primary = createPrimary({
  worker: new URL('./app.mjs', import.meta.url),
  workers: Number(process.env.WORKERS ?? 2),
  // The app asks for 3000; bind PORT instead (0: a free port).
  dropIn: { ports: { 3000: port } },
});
primary.on('error', (error) => console.error(`handoff: ${error.code}: ${error.message}`));
await primary.start();
console.log(`listening on http://127.0.0.1:${primary.addresses()[0].port}`);
