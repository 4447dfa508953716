// An Express 5 app, unchanged, served by a handoff worker: `serve()` takes its Node server.
import http from 'node:http';
import express from 'express';
import { serve } from '@handoff/worker';

const app = express();
app.use(express.json());

app.get('/', (_req, res) => {
  res.json({ framework: 'express5', pid: process.pid });
});

app.get('/hello/:name', (req, res) => {
  res.json({ hello: req.params.name, pid: process.pid });
});

// Express 5 path syntax: a named wildcard.
app.get('/files/*path', (req, res) => {
  res.json({ path: req.params.path, pid: process.pid });
});

app.post('/echo', (req, res) => {
  res.json({ echo: req.body, pid: process.pid });
});

// Express 5 passes a rejected promise from an async handler to the error handler.
app.get('/fail', async () => {
  await Promise.resolve();
  throw new Error('async failure');
});

app.use((error, _req, res, _next) => {
  res.status(500).json({ error: error.message, pid: process.pid });
});

// Under a primary the worker takes its connections over IPC; run alone (`node worker.mjs`) it
// listens on PORT (default 3000) itself.
serve(http.createServer(app));
