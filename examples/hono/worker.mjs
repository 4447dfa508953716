// A Hono app served by a handoff worker: `createAdaptorServer` from `@hono/node-server` makes the
// Node server (without listening), and `serve()` from `@handoff/worker` takes it.
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { serve } from '@handoff/worker';

const app = new Hono();

app.get('/', (c) => c.json({ framework: 'hono', pid: process.pid }));

app.get('/hello/:name', (c) => c.json({ hello: c.req.param('name'), pid: process.pid }));

app.post('/echo', async (c) => c.json({ echo: await c.req.json(), pid: process.pid }));

// A streamed body (Web streams), sent in chunks through the worker.
app.get('/count', () => {
  let i = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (i === 5) return controller.close();
      controller.enqueue(new TextEncoder().encode(`${i++}\n`));
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/plain' } });
});

serve(createAdaptorServer({ fetch: app.fetch }));
