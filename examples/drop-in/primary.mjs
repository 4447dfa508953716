// Runs an unmodified app (express-app.mjs by default, or APP=fastify-app.mjs) on every core:
// dropIn makes its own listen(3000) take its connections from this primary.
import { createPrimary } from '@handoff/orchestrator';

const app = process.env.APP ?? 'express-app.mjs';
const port = Number(process.env.PORT ?? 3000);
const primary = createPrimary({
  worker: new URL(`./${app}`, import.meta.url),
  workers: Number(process.env.WORKERS ?? 2),
  // The app asks for 3000; bind PORT instead (0: a free port).
  dropIn: { ports: { 3000: port } },
});
primary.on('listener:bound', ({ address }) => console.log(`listening on http://127.0.0.1:${address.port}`));
await primary.start();
