import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPrimary, type Primary, type PrimaryOptions } from '../../orchestrator/dist/index.js';
import { killAll, runLoad, waitFor } from '../../../tools/testing/src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/kinds.mjs', import.meta.url));

let primary: Primary | undefined;
const pids = new Set<number>();
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) a.destroy();
  await primary?.close({ timeout: 2000 });
  primary = undefined;
  killAll(pids);
  pids.clear();
});

async function start(kind: string, options: Partial<PrimaryOptions> = {}): Promise<number> {
  primary = createPrimary({ worker: fixture, workers: 2, listen: { port: 0, host: '127.0.0.1' }, env: { SERVER_KIND: kind }, handleSignals: false, readyTimeout: 15_000, ...options });
  primary.on('worker:spawn', (w) => pids.add(w.pid));
  await primary.start();
  return (primary.addresses()[0] as { port: number }).port;
}

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

function get(port: number, path: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    })
      .on('error', reject)
      .end();
  });
}

describe('draining', () => {
  it('lets an in-flight slow request finish, answered with Connection: close, and reports each step', async () => {
    const port = await start('http', { drainTimeout: 10_000 });
    const steps: string[] = [];
    primary!.on('worker:drain', (w, progress) => steps.push(`${w.id}:${progress.phase}`));
    const agent = new Agent({ keepAlive: true });
    agents.push(agent);
    const slow = get(port, '/?ms=1000', agent);
    // The request is inside its worker before the drain begins.
    await new Promise((r) => setTimeout(r, 300));
    await primary!.close();
    const answer = await slow;
    expect(answer.status).toBe(200);
    expect(answer.connection).toBe('close');
    expect(steps.sort()).toEqual(['1:idle', '1:started', '2:idle', '2:started']);
  });

  it('closes a keep-alive socket left idle, after its grace and well before the deadline', async () => {
    const port = await start('http', { drainTimeout: 20_000 });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    await get(port, '/', agent);
    const socket = Object.values(agent.freeSockets)[0]![0]!;
    let closedAt = 0;
    socket.once('close', () => (closedAt = Date.now()));
    const began = Date.now();
    await primary!.close();
    await waitFor(() => closedAt > 0, 5000, 20, 'the idle socket to be closed');
    // Closed by the server's idle grace (500 ms), not by the 20 s deadline's SIGKILL.
    expect(closedAt - began).toBeLessThan(10_000);
    expect(primary!.workers()).toEqual([]);
  });

  it('a client that keeps sending on keep-alive sockets through rolling reloads sees no failed request', async () => {
    const port = await start('http');
    const stop = new AbortController();
    const load = runLoad({ port, concurrency: 8, keepAlive: true, signal: stop.signal });
    try {
      for (let i = 0; i < 5; i++) await primary!.reload();
    } finally {
      stop.abort();
    }
    const result = await load;
    expect({ failed: result.failed, non2xx: result.non2xx, errors: result.errors }).toEqual({ failed: 0, non2xx: 0, errors: [] });
    expect(result.ok).toBeGreaterThan(100);
  });

  it('lets a WebSocket go on until the deadline, then closes it with 1001 (going away)', async () => {
    const port = await start('ws', { drainTimeout: 1500 });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    const messages: string[] = [];
    ws.on('message', (data) => messages.push(String(data)));
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const closing = primary!.close();
    // During the drain the WebSocket still works.
    await new Promise((r) => setTimeout(r, 300));
    ws.send('still here');
    await waitFor(() => messages.includes('still here'), 5000, 20, 'the echo during the drain');
    expect(await closed).toBe(1001);
    await closing;
  });
});
