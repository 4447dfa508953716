// One backend behind a proxy: a single Node process serving the bench app on 127.0.0.1 at
// BENCH_BACKEND_PORT (0: any), as ops teams run N of them on N ports. Tells its parent the port it
// got (IPC: `{ port }`); on the message `close` it stops listening (idle connections close too) and
// exits once the rest have: a rolling restart's graceful stop.
import { createServer } from 'node:http';
import { handle } from './app.js';

const server = createServer(handle);
server.listen({ port: Number(process.env.BENCH_BACKEND_PORT ?? 0), host: '127.0.0.1' }, () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('message', (m) => m === 'close' && server.close(() => process.exit(0)));
// The runner gone: nothing to serve for.
process.once('disconnect', () => process.exit(0));
