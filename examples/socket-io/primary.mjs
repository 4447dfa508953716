// The primary: binds the port and hands each connection to a worker. socket.io's long-polling
// sessions live in one worker, so the primary keeps each client on one worker: ipHash() hashes the
// client's address (POLICY=round-robin is fine for WebSocket-only clients).
import { createPrimary } from '@handoff/orchestrator';
import { ipHash, roundRobin } from '@handoff/policies';

const primary = createPrimary({
  worker: new URL('./worker.mjs', import.meta.url),
  workers: Number(process.env.WORKERS ?? 2),
  policy: process.env.POLICY === 'round-robin' ? roundRobin() : ipHash(),
  listen: { port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' },
});
primary.on('error', (error) => console.error(`handoff: ${error.code}: ${error.message}`));
await primary.start();
const address = primary.addresses()[0];
console.log(`listening on http://127.0.0.1:${address.port}`);
