import { readFileSync } from 'node:fs';
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
  /** Its duplicate of the listening socket (undefined from an addon built before it said so). */
  readonly fd?: number;
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
  /**
   * Which addon loaded: `'built'` (compiled at install, `build/fdpass.node`) or the prebuilt target
   * (`'prebuilt linux-x64-gnu'`); undefined when none did.
   */
  readonly binary?: string;
}

let loaded: { binding: NativeBinding | undefined; status: NativeStatus } | undefined;

/**
 * This process's libc: `'musl'` where musl's dynamic loader is mapped into it, else `'gnu'`. Read
 * from /proc/self/maps (one small read) rather than `process.report` (a whole report, per worker).
 */
export function libc(maps = '/proc/self/maps'): 'gnu' | 'musl' {
  try {
    return /\/ld-musl-[^/\s]*\.so|\/libc\.musl-/.test(readFileSync(maps, 'utf8')) ? 'musl' : 'gnu';
  } catch {
    return 'gnu';
  }
}

/** The prebuilt target this process loads: `linux-x64-gnu`, `linux-arm64-musl`… */
export function prebuiltTarget(): string {
  return `${process.platform}-${process.arch}-${libc()}`;
}

function load(): { binding: NativeBinding | undefined; status: NativeStatus } {
  const no = (reason: string) => ({ binding: undefined, status: { available: false, reason } });
  if (process.platform !== 'linux') return no(`the native transport is Linux-only; this is ${process.platform}`);
  if (process.env.HANDOFF_FDPASS_DISABLE === '1') return no('HANDOFF_FDPASS_DISABLE=1');
  const require = createRequire(import.meta.url);
  const target = prebuiltTarget();
  // An addon compiled here (HANDOFF_FDPASS_BUILD=1 at install, or no prebuilt fits) is built from
  // this very source, so it goes first; then the prebuilt one for this platform and libc.
  const tries: Array<[binary: string, path: string]> = [
    ['built', '../build/fdpass.node'],
    [`prebuilt ${target}`, `../prebuilds/${target}/fdpass.node`],
  ];
  const failures: string[] = [];
  for (const [binary, path] of tries) {
    let binding: NativeBinding;
    try {
      binding = require(path) as NativeBinding;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code !== 'MODULE_NOT_FOUND') failures.push(`${binary}: ${e.message}`);
      continue;
    }
    if (binding.abi !== ABI) {
      failures.push(`${binary} speaks ABI ${binding.abi}, this wrapper ${ABI}: rebuild it (node scripts/build-native.mjs)`);
      continue;
    }
    return { binding, status: { available: true, reason: undefined, binary } };
  }
  if (failures.length > 0) return no(failures.join('; '));
  return no(`no prebuilt addon for ${target} and none was built at install (no C compiler or Node.js headers?); run \`node scripts/build-native.mjs\` in @handoff/fdpass`);
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
