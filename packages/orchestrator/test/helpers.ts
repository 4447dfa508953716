import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { TestResponse } from '../../../tools/testing/src/index.js';

/** The steerable test app (see fixtures/app.mjs). */
export const app = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
/** A worker that throws at import. */
export const throws = fileURLToPath(new URL('./fixtures/throws.mjs', import.meta.url));
/** A primary in its own process. */
export const primaryScript = fileURLToPath(new URL('./fixtures/primary.mjs', import.meta.url));
/** The PROXY protocol tests' app: answers with the client it sees, the proxy's info and the body (see fixtures/proxy-app.mjs). */
export const proxyApp = fileURLToPath(new URL('./fixtures/proxy-app.mjs', import.meta.url));

/**
 * Asks a worker to block its event loop for `ms`: `started` resolves once it has begun (the fixture
 * sends its headers just before it blocks), `done` with the whole response.
 */
export function block(port: number, ms: number): { started: Promise<void>; done: Promise<TestResponse> } {
  let onStarted!: () => void;
  let onFailed!: (error: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    onStarted = resolve;
    onFailed = reject;
  });
  const done = new Promise<TestResponse>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/block?ms=${ms}&early=1`, agent: false, headers: { connection: 'close' }, timeout: 20_000 }, (res) => {
      onStarted();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error('block timed out')));
    req.on('error', (error) => {
      onFailed(error); // a test waiting for the block to start fails now, not at its timeout
      reject(error);
    });
    req.end();
  });
  return { started, done };
}
