// An HTTP/2 server over TLS (`http2.createSecureServer`, with `allowHTTP1` so HTTP/1.1 clients are
// served too) under a handoff worker. TLS, ALPN and every HTTP/2 stream live in the worker.
import http2 from 'node:http2';
import { serve } from '@handoff/worker';
import { ensureCert } from '../https/cert.mjs';

const { key, cert } = await ensureCert();

const server = http2.createSecureServer({ allowHTTP1: true, key, cert }, (req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ example: 'http2', pid: process.pid, path: req.url, httpVersion: req.httpVersion, alpn: req.socket.alpnProtocol }));
});

serve(server);
