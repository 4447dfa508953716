// A socket.io server on a plain http server, served by a handoff worker. socket.io's long-polling
// transport keeps its session in this process (engine.io's session table), so every request of a
// session must reach this worker: the primary runs ipHash() for that (see primary.mjs).
import http from 'node:http';
import { Server } from 'socket.io';
import { serve } from '@handoff/worker';

const server = http.createServer((req, res) => {
  // socket.io answers its own path (/socket.io/); anything else is ours.
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ example: 'socket-io', pid: process.pid }));
});

const io = new Server(server);
io.on('connection', (socket) => {
  // Each ack says which worker holds the session and the transport it came over.
  socket.on('ping', (n, ack) => ack({ pid: process.pid, n, transport: socket.conn.transport.name }));
});

serve(server);
