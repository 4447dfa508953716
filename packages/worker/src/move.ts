import type { Socket } from 'node:net';
import { createMessage, type ReturnMessage } from '@handoff/protocol';

const kListener = Symbol('handoff.listener');
type Tagged = Socket & { [kListener]?: number };
type NativeStream = { readStop(): number; reading?: boolean };
type Internals = Socket & {
  _handle: NativeStream | null;
  parser?: { _consumed?: boolean; unconsume?(): void } | null;
};

/** Remembers which listener a socket came from (a moved connection goes back to it). */
export function tagListener(socket: Socket, listener: number): void {
  (socket as Tagged)[kListener] = listener;
}

/** The listener a socket came from, if it was tagged. */
export function listenerOf(socket: Socket): number | undefined {
  return (socket as Tagged)[kListener];
}

/** How a moved connection reaches the primary: a `return` message with its handle; `done` once written. */
export type SendReturn = (message: ReturnMessage, handle: unknown, done: () => void) => void;

/**
 * Gives connections back to the primary during a drain, each as the kernel holds it: its handle
 * stops reading (what the client sends next waits in the kernel, for the worker that takes it),
 * leaves the socket, and crosses to the primary in a `return` message (reason `'moved'`), which
 * places it like a connection just accepted. The socket here then closes without closing the
 * connection: the app's server sees `'close'`, as for a client gone.
 */
export class ConnectionMover {
  /** Connections given back since start. */
  moved = 0;
  private sending = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly sendReturn: SendReturn) {}

  /** Gives `socket` back; false when it cannot go (no handle any more, or no listener known). */
  move(socket: Socket): boolean {
    const listener = listenerOf(socket);
    const s = socket as Internals;
    const handle = s._handle;
    if (listener === undefined || handle === null || handle === undefined) return false;
    handle.reading = false;
    handle.readStop();
    const reused = socket.bytesRead > 0;
    // The http parser reads the handle directly (parser.consume()): it lets go first, as Node's
    // own upgrade path does, so the socket's close frees it without touching the handle.
    const parser = s.parser;
    if (parser?._consumed === true) {
      parser.unconsume?.();
      parser._consumed = false;
    }
    s._handle = null;
    socket.destroy();
    this.moved++;
    this.sending++;
    const message = createMessage('return', { listener, id: this.moved, reason: 'moved' as const, ...(reused ? { reused: true } : {}) }) as ReturnMessage;
    this.sendReturn(message, handle, () => {
      if (--this.sending === 0) for (const resolve of this.waiting.splice(0)) resolve();
    });
    return true;
  }

  /** Resolves once every connection given back has left this process (its handle is written). */
  sent(): Promise<void> {
    if (this.sending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}
