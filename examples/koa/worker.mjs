// A Koa app served by a handoff worker: `serve()` takes the Node server around `app.callback()`.
import http from 'node:http';
import Koa from 'koa';
import { serve } from '@handoff/worker';

const app = new Koa();

// Middleware runs as usual: this one times every request.
app.use(async (ctx, next) => {
  const start = process.hrtime.bigint();
  await next();
  ctx.set('x-response-time', `${Number(process.hrtime.bigint() - start) / 1e6}ms`);
});

app.use(async (ctx) => {
  if (ctx.method === 'GET' && ctx.path === '/') {
    ctx.body = { framework: 'koa', pid: process.pid };
  } else if (ctx.method === 'GET' && ctx.path.startsWith('/hello/')) {
    ctx.body = { hello: decodeURIComponent(ctx.path.slice('/hello/'.length)), pid: process.pid };
  } else if (ctx.method === 'POST' && ctx.path === '/echo') {
    let raw = '';
    for await (const chunk of ctx.req) raw += chunk;
    ctx.body = { echo: JSON.parse(raw), pid: process.pid };
  } else if (ctx.path === '/fail') {
    ctx.throw(418, 'no coffee here');
  }
  // Anything else: Koa answers 404.
});

serve(http.createServer(app.callback()));
