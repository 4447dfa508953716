import { chmodSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { CliErrorCode, HandoffCliError } from '../errors.js';
import { CONTROL_VERSION, ControlErrorCode, decodeRequest, encodeReply, MAX_REQUEST_BYTES, type ControlCommand, type ControlReply } from './protocol.js';

/**
 * Runs one command: `progress` sends a progress reply; the resolved value is the result. `closed`
 * aborts when the client goes (a stream such as `logs` ends then).
 */
export type ControlHandler = (args: Readonly<Record<string, unknown>>, progress: (message: string, data?: unknown) => void, closed: AbortSignal) => Promise<unknown>;

/** Clients connected at once, at most; more are closed at once (Node's `maxConnections`). */
const MAX_CLIENTS = 16;
/** Requests a client may queue behind the one running; past it the client is closed as a flood. */
const MAX_QUEUED = 8;
/** Malformed lines a client may send before it is closed. */
const MAX_BAD_LINES = 4;
/** A client silent this long is closed, in ms (not while a request of it runs: `logs` streams for hours). */
const IDLE_MS = 60_000;
/** Bytes a slow client may leave unread before progress replies to it are dropped (a `logs` reader that stalls). */
const MAX_UNREAD = 4 * 1024 * 1024;

/**
 * Whether a primary answers on `path`: resolves true when it connects, false when nothing listens
 * (a socket left by a killed primary: stale).
 */
export function socketAnswers(path: string, timeout = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const done = (alive: boolean): void => {
      socket.destroy();
      resolve(alive);
    };
    socket.setTimeout(timeout, () => done(true));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Claims the control socket at `path` for a primary: refuses when another primary answers there,
 * and removes a stale socket (its primary was killed) before listening. The socket is made 0600.
 */
export async function listenControl(path: string, handlers: Readonly<Record<ControlCommand, ControlHandler>>, name: string): Promise<ControlServer> {
  const inUse = (): HandoffCliError =>
    new HandoffCliError(CliErrorCode.NAME_IN_USE, `a primary named ${JSON.stringify(name)} is running already (${path}); stop it (handoff stop ${name}) or choose another --name`);
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    stat = undefined;
  }
  if (stat !== undefined) {
    if (!stat.isSocket()) throw new HandoffCliError(CliErrorCode.CONTROL_UNSAFE, `${path} exists and is not a socket; remove it`);
    if (await socketAnswers(path)) throw inUse();
    unlinkSync(path);
  }
  const server = new ControlServer(handlers);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', (error: NodeJS.ErrnoException) => reject(error.code === 'EADDRINUSE' ? inUse() : error));
    server.server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  server.path = path;
  return server;
}

/** The primary's end of the control socket. */
export class ControlServer {
  readonly server: Server;
  path = '';
  private readonly clients = new Set<Socket>();

  constructor(private readonly handlers: Readonly<Record<ControlCommand, ControlHandler>>) {
    this.server = createServer((socket) => this.accept(socket));
    this.server.maxConnections = MAX_CLIENTS;
    // Nothing the control socket does keeps the primary alive.
    this.server.unref();
  }

  private accept(socket: Socket): void {
    this.clients.add(socket);
    socket.once('close', () => this.clients.delete(socket));
    socket.setTimeout(IDLE_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let bad = 0;
    const queue: string[] = [];
    let running = false;
    const closed = new AbortController();
    socket.once('close', () => closed.abort());
    const send = (reply: ControlReply): void => {
      if (socket.destroyed || (reply.type === 'progress' && socket.writableLength > MAX_UNREAD)) return;
      socket.write(encodeReply(reply));
    };
    const next = async (): Promise<void> => {
      if (running) return;
      running = true;
      while (queue.length > 0 && !socket.destroyed) {
        socket.setTimeout(0);
        await this.run(queue.shift()!, send, () => ++bad > MAX_BAD_LINES && socket.destroy(), closed.signal);
        socket.setTimeout(IDLE_MS);
      }
      running = false;
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES && !buffered.slice(0, MAX_REQUEST_BYTES + 1).includes('\n')) {
        socket.end(encodeReply({ v: CONTROL_VERSION, id: null, type: 'error', code: ControlErrorCode.OVERSIZED, message: `a request line may be ${MAX_REQUEST_BYTES} bytes at most` }));
        socket.destroySoon();
        buffered = '';
        return;
      }
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        if (line === '') continue;
        if (queue.length >= MAX_QUEUED) {
          socket.end(encodeReply({ v: CONTROL_VERSION, id: null, type: 'error', code: ControlErrorCode.BUSY, message: `at most ${MAX_QUEUED} requests may wait; closing` }));
          socket.destroySoon();
          return;
        }
        queue.push(line);
      }
      void next();
    });
  }

  private async run(line: string, send: (reply: ControlReply) => void, onBad: () => void, closed: AbortSignal): Promise<void> {
    const request = decodeRequest(line);
    if ('error' in request) {
      send({ v: CONTROL_VERSION, type: 'error', ...request.error });
      onBad();
      return;
    }
    const { id } = request;
    try {
      const data = await this.handlers[request.cmd](request.args, (message, data) => send({ v: CONTROL_VERSION, id, type: 'progress', message, data }), closed);
      send({ v: CONTROL_VERSION, id, type: 'result', data: data ?? null });
    } catch (error) {
      const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : ControlErrorCode.FAILED;
      send({ v: CONTROL_VERSION, id, type: 'error', code, message: (error as Error).message ?? String(error) });
    }
  }

  /**
   * Upgrade, the new primary: takes the name `path` over from the old primary by renaming its own
   * socket file onto it (atomic: a client connects to one or the other, never to nothing). The old
   * primary's socket stays open, unnamed, for the clients it has.
   */
  takeName(path: string): void {
    renameSync(this.path, path);
    this.path = path;
  }

  /**
   * Upgrade, the old primary, when the new one died after it took the name (a SIGKILL in the
   * moment between): the name's socket answers nobody, so this primary listens on it again.
   */
  async reclaimName(path: string): Promise<void> {
    if (await socketAnswers(path, 500)) return;
    try {
      unlinkSync(path);
    } catch {
      // Gone already.
    }
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = MAX_CLIENTS;
    server.unref();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    chmodSync(path, 0o600);
    this.reclaimed.push(server);
    this.path = path;
  }

  /** Servers of {@link reclaimName}, closed with the first. */
  private readonly reclaimed: Server[] = [];

  /** Upgrade, the old primary: its socket file is the new primary's now; `close()` must leave it. */
  releaseName(): void {
    this.path = '';
    this.released = true;
  }

  private released = false;

  /** Stops listening, ends every client, and removes the socket file. */
  async close(): Promise<void> {
    // libuv unlinks the path a Unix socket server was bound to when it closes (uv__pipe_close):
    // once the name is another primary's, the listening socket is left for the process's exit.
    const closed = this.released ? Promise.resolve() : Promise.all([this.server, ...this.reclaimed].map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => undefined);
    for (const socket of this.clients) socket.end();
    setTimeout(() => {
      for (const socket of this.clients) socket.destroy();
    }, 200).unref();
    try {
      if (this.path !== '') unlinkSync(this.path);
    } catch {
      // Already gone.
    }
    await closed;
  }
}
