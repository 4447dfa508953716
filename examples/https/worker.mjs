// An `https` server served by a handoff worker. TLS ends in the worker: the primary hands over the
// raw TCP connection and never sees the key.
import https from 'node:https';
import { serve } from '@handoff/worker';
import { ensureCert } from './cert.mjs';

const { key, cert } = await ensureCert();

const server = https.createServer({ key, cert }, (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ example: 'https', pid: process.pid, url: req.url, encrypted: req.socket.encrypted === true, tls: req.socket.getProtocol() }));
});

serve(server);
