// A WebSocket echo server (the `ws` package) on a plain http server, served by a handoff worker.
// The upgrade happens in the worker, on the connection the primary handed it.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import { serve } from '@handoff/worker';

const server = http.createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ example: 'ws', pid: process.pid }));
});

const wss = new WebSocketServer({ server });
wss.on('connection', (socket) => {
  // First message: which worker holds this WebSocket. Then every message comes back as it was sent.
  socket.send(JSON.stringify({ hello: 'ws', pid: process.pid }));
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});

serve(server);
