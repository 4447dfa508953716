import { request as httpRequest } from 'node:http';

/** A response as the tests look at it. */
export interface TestResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** Options of {@link get}. */
export interface GetOptions {
  readonly path?: string;
  readonly host?: string;
  /** Send `Connection: close` on a fresh connection (no agent): one connection per request. */
  readonly close?: boolean;
  /** Give up after this many ms. @default 10000 */
  readonly timeout?: number;
  readonly socketPath?: string;
}

/** One real HTTP GET over loopback. Rejects on network errors and timeouts. */
export function get(port: number, options: GetOptions = {}): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: options.socketPath === undefined ? (options.host ?? '127.0.0.1') : undefined,
        port: options.socketPath === undefined ? port : undefined,
        socketPath: options.socketPath,
        path: options.path ?? '/',
        agent: false,
        headers: options.close === false ? {} : { connection: 'close' },
        timeout: options.timeout ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${options.path ?? '/'} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** The pid in a `handled by child, pid: N` body, or NaN. */
export function pidOf(body: string): number {
  const match = /pid: (\d+)/.exec(body);
  return match === null ? Number.NaN : Number(match[1]);
}
