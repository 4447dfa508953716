import { readFileSync } from 'node:fs';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createPrimary } from '@handoff/orchestrator';

const pids = new Set();
let primary;
afterEach(async () => {
  await primary?.close({ timeout: 2000 });
  primary = undefined;
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  pids.clear();
});

function get(port) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      })
      .on('error', reject);
  });
}

describe('drop-in mode: unmodified apps', () => {
  for (const [name, file] of [
    ['Express', 'express-app.mjs'],
    ['Fastify', 'fastify-app.mjs'],
  ]) {
    it(`${name}: the app's own listen(3000) serves through the primary on both workers, and server.address() is the real port`, async () => {
      // The app's source does not know handoff.
      expect(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')).not.toMatch(/@handoff|serve\(/);
      primary = createPrimary({ worker: new URL(`../${file}`, import.meta.url), workers: 2, dropIn: { ports: { 3000: 0 } }, handleSignals: false, readyTimeout: 15_000 });
      primary.on('worker:spawn', (w) => pids.add(w.pid));
      await primary.start();
      const { port } = primary.addresses()[0];
      expect(port).not.toBe(3000);
      const served = new Set();
      for (let i = 0; i < 10; i++) {
        const res = await get(port);
        expect(res.status).toBe(200);
        const match = /pid (\d+), listening on (.*)$/.exec(res.body.trim());
        served.add(match[1]);
        expect(JSON.parse(match[2]).port).toBe(port);
      }
      expect(served.size).toBe(2);
    });
  }
});
