// A Fastify 5 app served by a handoff worker: build it, wait for `ready()`, then hand its Node
// server to `serve()`. On drain, Fastify's own `close()` runs its onClose hooks.
import { appendFileSync } from 'node:fs';
import Fastify from 'fastify';
import { serve } from '@handoff/worker';

const app = Fastify();

app.get('/', async () => ({ framework: 'fastify', pid: process.pid }));

app.get('/hello/:name', async (request) => ({ hello: request.params.name, pid: process.pid }));

app.post('/echo', async (request) => ({ echo: request.body, pid: process.pid }));

app.addHook('onClose', async () => {
  // Close the database, flush logs… here. FASTIFY_CLOSE_LOG lets the test see that it ran.
  if (process.env.FASTIFY_CLOSE_LOG) appendFileSync(process.env.FASTIFY_CLOSE_LOG, `${process.pid}\n`);
});

await app.ready();
serve(app.server).onDrain(() => app.close());
