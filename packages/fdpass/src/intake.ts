import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tagKind, tagListener } from './connection.js';
import { channels, debug } from './diagnostics.js';
import { IPC_CMD } from './ipc-primary.js';
import { PROBE_ANSWER_CMD, PROBE_CMD } from './worker-link.js';
import { binding, nativeStatus, type NativeBinding, type NativeReceiver } from './native.js';
import { socketFromFd, socketFromHandle } from './socket.js';
import { FDPASS_FD_ENV } from './spawn.js';
import type { IntakeStats, WorkerIntake } from './types.js';

/** Options of {@link createWorkerIntake}. */
export interface IntakeOptions {
  /** Each connection, as a readable `net.Socket`, with the listener it came from and its payload, if it had one. */
  onSocket(socket: Socket, listener: number, payload: Buffer | undefined): void;
  /** `allowHalfOpen` for the sockets of a listener (the server's own option). @default false */
  allowHalfOpen?: boolean | ((listener: number) => boolean);
  /**
   * Also take IPC messages with this `cmd` (fdpass's own message, {@link IPC_CMD}) from the
   * channel. `false` when the worker's protocol handler routes its messages and calls `receive()`.
   * @default IPC_CMD
   */
  ipcCmd?: string | false;
  /**
   * Whether the native link keeps the event loop alive, as a listening server does. `false` where
   * something else holds the process (a handoff worker's IPC channel) and the process must be able
   * to end on its own once that lets go. @default true
   */
  ref?: boolean;
  /** The native link ended (the primary closed it or died): `error` is the errno name, if any. */
  onClose?(error: string | undefined): void;
  /** Where the link's fd is said; for tests. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * The worker's intake: opens the native link the primary gave this worker, if it gave one (its fd
 * is named by `HANDOFF_FDPASS_FD`), and takes connections that arrive on the IPC channel. The
 * addon acknowledges each wake-up's batches before `onSocket` runs.
 *
 * A worker given a native link it cannot use (the addon does not load here) closes it: the
 * primary reads EOF, gets back what it had sent, and should use IPC for this worker (`transport`
 * says which: put it in the worker's hello).
 */
export function createWorkerIntake(options: IntakeOptions): WorkerIntake {
  const env = options.env ?? process.env;
  const halfOpen = options.allowHalfOpen ?? false;
  const allowHalfOpen = typeof halfOpen === 'function' ? halfOpen : () => halfOpen;
  const { onSocket } = options;
  let received = 0;
  let ipcReceived = 0;
  const raw = env[FDPASS_FD_ENV];
  // The worker's own children must not think they have a link.
  delete env[FDPASS_FD_ENV];
  let receiver: NativeReceiver | undefined;
  let fallbackReason: string | undefined;
  let native: NativeBinding | undefined;
  if (raw !== undefined) {
    const fd = Number(raw);
    const status = nativeStatus();
    if (!Number.isInteger(fd) || fd < 3) {
      fallbackReason = `${FDPASS_FD_ENV}=${raw} is not an fd`;
    } else if (!status.available) {
      fallbackReason = status.reason;
    } else {
      native = binding();
      const n = native;
      try {
        receiver = new n.Receiver(
          fd,
          (count) => {
            const r = receiver!;
            let i = 0;
            try {
              for (; i < count; i++) {
                const fd = r.fds[i]!;
                const tag = r.tags[i]!;
                const listener = tagListener(tag);
                const length = r.lengths[i]!;
                // A copy: the addon reuses its buffer at the next wake-up.
                const payload = length === 0 ? undefined : Buffer.from(r.data.subarray(r.offsets[i]!, r.offsets[i]! + length));
                let socket: Socket;
                try {
                  socket = socketFromFd(fd, tagKind(tag), allowHalfOpen(listener));
                } catch (error) {
                  debug('fdpass: could not wrap fd %d: %o', fd, error);
                  n.close(fd);
                  continue;
                }
                received++;
                onSocket(socket, listener, payload);
              }
            } catch (error) {
              // onSocket threw: the rest of the batch is nobody's; close it, then let it surface.
              for (i++; i < count; i++) n.close(r.fds[i]!);
              throw error;
            }
          },
          (error) => options.onClose?.(error),
        );
        if (options.ref === false) receiver.ref(false);
      } catch (error) {
        fallbackReason = `the native link could not be opened: ${(error as Error).message}`;
      }
    }
    if (receiver === undefined) {
      // Close it so the primary sees EOF at once instead of filling a link nobody reads.
      closeQuietly(fd);
      debug('fdpass: worker %d falls back to IPC: %s', process.pid, fallbackReason);
      if (channels.workerFallback.hasSubscribers) channels.workerFallback.publish({ pid: process.pid, reason: fallbackReason });
    }
  }
  const receive = (handle: unknown, listener: number, payload?: Buffer): void => {
    ipcReceived++;
    received++;
    onSocket(socketFromHandle(handle, allowHalfOpen(listener)), listener, payload);
  };
  const cmd = options.ipcCmd ?? IPC_CMD;
  const onInternal = (message: { cmd?: unknown; listener?: unknown; payload?: unknown } | null, handle: unknown): void => {
    // The primary's link asks whether this worker lives, its native link having ended: it goes on over IPC.
    if (message?.cmd === PROBE_CMD) {
      process.send?.({ cmd: PROBE_ANSWER_CMD }, undefined, undefined, ignore);
      return;
    }
    if (cmd === false || message?.cmd !== cmd || handle === undefined) return;
    const listener = typeof message.listener === 'number' ? message.listener : 0;
    receive(handle, listener, typeof message.payload === 'string' ? Buffer.from(message.payload, 'base64') : undefined);
  };
  process.on('internalMessage' as 'message', onInternal as never);
  return {
    transport: receiver === undefined ? 'ipc' : 'native',
    fallbackReason,
    receive,
    close: () => {
      process.off('internalMessage' as 'message', onInternal as never);
      receiver?.close();
    },
    stats: (): IntakeStats => {
      const s = receiver?.stats();
      return {
        received,
        wakeups: (s?.wakeups ?? 0) + ipcReceived,
        batches: (s?.batches ?? 0) + ipcReceived,
        acks: (s?.acks ?? 0) + ipcReceived,
      };
    },
  };
}

function ignore(): void {}

function closeQuietly(fd: number): void {
  if (!Number.isInteger(fd) || fd < 3) return;
  try {
    closeSync(fd);
  } catch {
    // Not open.
  }
}
