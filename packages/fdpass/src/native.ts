import { createRequire } from 'node:module';

/** The addon's ABI this wrapper speaks (native/module.c, FP_ABI). */
const ABI = 1;

/** The compiled addon, as src/ sees it (native/*.c document each object). */
export interface NativeBinding {
  readonly abi: number;
  readonly maxBatch: number;
  socketpair(): [primaryEnd: number, workerEnd: number];
  close(fd: number): void;
  dup(fd: number): number;
  Acceptor: new (listenFd: number, onAccept: (count: number, error: string | undefined) => void, max: number, wantPeer: boolean) => NativeAcceptor;
  Sender: new (
    fd: number,
    onAck: (released: number) => void,
    onClose: (returned: number, error: string | undefined) => void,
    maxBatch: number,
    cap: number,
    delayUs: number,
  ) => NativeSender;
  Receiver: new (fd: number, onBatch: (count: number) => void, onClose: (error: string | undefined) => void) => NativeReceiver;
}

/** native/acceptor.c. */
export interface NativeAcceptor {
  readonly fds: Int32Array;
  readonly peers?: Uint8Array;
  pause(): void;
  resume(): void;
  close(): void;
  ref(on: boolean): void;
  stats(): { accepted: number; wakeups: number; calls: number; mostPerWakeup: number };
}

/** native/sender.c. */
export interface NativeSender {
  /** 1 queued, 0 at the cap, -1 closed. Throws for a payload over 64 KiB. */
  queue(fd: number, tag: number, payload?: Uint8Array): number;
  flush(): void;
  close(): void;
  /** The worker's process is gone (its end may be held open by a process it spawned): read its last acks, give back the rest. */
  abandon(): void;
  ref(on: boolean): void;
  unacked(): number;
  stats(): { batches: number; fds: number; sendCalls: number; blocked: number; acks: number; largestBatch: number; unacked: number; sendErrors: number; lastError: string | undefined };
}

/** native/receiver.c. */
export interface NativeReceiver {
  readonly fds: Int32Array;
  readonly tags: Uint32Array;
  /** Where each fd's payload starts in `data`, and its length (0: none); valid during onBatch. */
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly data: Uint8Array;
  close(): void;
  ref(on: boolean): void;
  stats(): { wakeups: number; recvCalls: number; batches: number; fds: number; acks: number; dropped: number; mostPerWakeup: number; highest: number };
}

/** Whether the native transport can run here, and if not, why. */
export interface NativeStatus {
  readonly available: boolean;
  /** Why not, when `available` is false. */
  readonly reason: string | undefined;
}

let loaded: { binding: NativeBinding | undefined; status: NativeStatus } | undefined;

function load(): { binding: NativeBinding | undefined; status: NativeStatus } {
  const no = (reason: string) => ({ binding: undefined, status: { available: false, reason } });
  if (process.platform !== 'linux') return no(`the native transport is Linux-only; this is ${process.platform}`);
  if (process.env.HANDOFF_FDPASS_DISABLE === '1') return no('HANDOFF_FDPASS_DISABLE=1');
  let binding: NativeBinding;
  try {
    // dist/native.js -> build/fdpass.node, written by scripts/build-native.mjs at install.
    binding = createRequire(import.meta.url)('../build/fdpass.node') as NativeBinding;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why = e.code === 'MODULE_NOT_FOUND' ? 'the addon was not built at install (no C compiler or Node.js headers?); run `node scripts/build-native.mjs` in @handoff/fdpass' : e.message;
    return no(why);
  }
  if (binding.abi !== ABI) return no(`the built addon speaks ABI ${binding.abi}, this wrapper ${ABI}: rebuild it (node scripts/build-native.mjs)`);
  return { binding, status: { available: true, reason: undefined } };
}

/** Whether the native transport loads in this process (it is loaded at the first call, once). */
export function nativeStatus(): NativeStatus {
  loaded ??= load();
  return loaded.status;
}

/** The addon; only after `nativeStatus().available` said so. */
export function binding(): NativeBinding {
  loaded ??= load();
  if (loaded.binding === undefined) throw new Error(`@handoff/fdpass: ${loaded.status.reason}`);
  return loaded.binding;
}
