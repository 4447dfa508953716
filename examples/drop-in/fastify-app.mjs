// A Fastify app exactly as it is written for a single process: no import from the
// multi-process toolkit, and it listens on 3000 itself.
import Fastify from 'fastify';

const app = Fastify();
app.get('/', async () => `fastify, pid ${process.pid}, listening on ${JSON.stringify(app.server.address())}\n`);
await app.listen({ port: 3000, host: '127.0.0.1' });
