// A raw HTTP/1.1 (and line protocol) client with full control over what it sends and when: what the
// conformance rows need to trickle headers, hold sockets idle and see who closed first.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** An HTTP response as read off the wire. */
export interface RawResponse {
  readonly status: number;
  readonly statusLine: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Where to connect. */
export interface Target {
  readonly port: number;
  readonly tls: boolean;
}

export class RawClient {
  private buffer = '';
  private waiter: (() => void) | undefined;
  /** True once the server closed (or reset) the connection. */
  closed = false;
  /** Resolves when the connection closed. */
  readonly done: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.waiter?.();
    });
    socket.on('error', () => {});
    this.done = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.waiter?.();
        resolve();
      }),
    );
  }

  /** Connects (over TLS with no certificate check, offering `alpn`) and resolves once it can send. */
  static connect(target: Target, alpn?: string[]): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = target.tls
        ? tlsConnect({ host: '127.0.0.1', port: target.port, rejectUnauthorized: false, ...(alpn !== undefined ? { ALPNProtocols: alpn } : {}) }, () => resolve(new RawClient(socket)))
        : netConnect({ host: '127.0.0.1', port: target.port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  write(data: string): void {
    this.socket.write(data);
  }

  /** Sends `GET path` (keep-alive unless `close`) and reads its response. */
  get(path: string, close = false): Promise<RawResponse | 'closed'> {
    this.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${close ? 'Connection: close\r\n' : ''}\r\n`);
    return this.response();
  }

  /** The next response on this connection, or `'closed'` if the server closes first; rejects after `timeout` ms. */
  async response(timeout = 5000): Promise<RawResponse | 'closed'> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const parsed = this.take();
      if (parsed !== undefined) return parsed;
      if (this.closed) return 'closed';
      await this.wait(deadline - Date.now());
      if (Date.now() >= deadline && this.take() === undefined && !this.closed) throw new Error(`no response within ${timeout} ms`);
    }
  }

  /** The next line (line protocol kinds). */
  async line(timeout = 5000): Promise<string | 'closed'> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const newline = this.buffer.indexOf('\n');
      if (newline >= 0) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        return line;
      }
      if (this.closed) return 'closed';
      if (Date.now() >= deadline) throw new Error(`no line within ${timeout} ms`);
      await this.wait(deadline - Date.now());
    }
  }

  /** True if the server closed the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    await Promise.race([this.done, new Promise((r) => setTimeout(r, ms))]);
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.waiter = done;
    });
  }

  private take(): RawResponse | undefined {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...lines] = this.buffer.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const colon = l.indexOf(':');
      headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.buffer.length < end + 4 + length) return undefined;
    const body = this.buffer.slice(end + 4, end + 4 + length);
    this.buffer = this.buffer.slice(end + 4 + length);
    return { status: Number(statusLine.split(' ')[1]), statusLine, headers, body };
  }
}

/** Opens a connection, asks `path` with `Connection: close`, and returns the response. */
export async function getOnce(target: Target, path: string): Promise<RawResponse | 'closed'> {
  const client = await RawClient.connect(target);
  try {
    return await client.get(path, true);
  } finally {
    client.destroy();
  }
}
