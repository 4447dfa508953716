// A raw TCP echo server (`net`, no HTTP anywhere) served by a handoff worker. It first says which
// worker holds the connection, then sends back every byte it receives.
import net from 'node:net';
import { serve } from '@handoff/worker';

const server = net.createServer((socket) => {
  socket.write(`pid ${process.pid}\n`);
  socket.pipe(socket);
});

serve(server);
