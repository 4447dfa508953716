import { createServer } from 'node:http';
import { serve } from '@handoff/worker';

/** The seed's server: says which process answered. */
const server = createServer((_req, res) => {
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(`handled by child, pid: ${process.pid}\n`);
});

serve(server);
