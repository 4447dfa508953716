// An http server with @godaddy/terminus, the graceful-shutdown library, exactly as it is set up for
// a single process: on SIGTERM terminus fails its health check, closes the server
// (`server.close()`, through stoppable), lets in-flight requests finish, runs its hooks and exits.
// Served by a handoff worker, that close() tells the primary, which sends this worker no more
// connections and forks a replacement into its slot; the other workers go on serving.
import http from 'node:http';
import { createTerminus } from '@godaddy/terminus';
import { serve } from '@handoff/worker';

const server = http.createServer((req, res) => {
  res.setHeader('x-pid', String(process.pid));
  if (req.url === '/upload' && req.method === 'POST') {
    // A slow request: the answer goes out once the client's upload ends, however long it takes.
    // The status line goes first, so the client knows which worker holds it.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    let bytes = 0;
    req.on('data', (chunk) => (bytes += chunk.length));
    req.on('end', () => res.end(JSON.stringify({ pid: process.pid, bytes })));
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ example: 'terminus', pid: process.pid }));
});

/** Stands for the app's own cleanup, which takes a moment (a database pool, a log flush). */
const closeDatabase = () => new Promise((resolve) => setTimeout(resolve, 200));

createTerminus(server, {
  signals: ['SIGTERM'],
  // How long in-flight requests may take after SIGTERM before their sockets are cut.
  timeout: 20_000,
  healthChecks: { '/healthz': async () => ({ pid: process.pid }) },
  // Runs once the server closed (every in-flight request answered): close the database, flush logs.
  onSignal: async () => {
    console.error(`worker ${process.pid}: SIGTERM, server closed, cleaning up`);
    await closeDatabase();
  },
  onShutdown: async () => console.error(`worker ${process.pid}: shutdown complete`),
});

serve(server);
