import { channels, debug } from './diagnostics.js';
import { FdpassErrorCode, HandoffFdpassError } from './errors.js';
import { createIpcPrimary, defaultIpcMessage } from './ipc-primary.js';
import type { IpcMessageBuilder } from './ipc-link.js';
import { createNativePrimary } from './native-primary.js';
import { binding, nativeStatus } from './native.js';
import type { PrimaryTransport, TransportChoice } from './types.js';

/** Options of {@link createPrimaryTransport}; defaults in {@link TRANSPORT_DEFAULTS}. */
export interface PrimaryTransportOptions {
  /** `auto`: native where the addon loads, else IPC. `native` where it does not load throws. @default 'auto' */
  readonly transport?: TransportChoice;
  /** The most connections one worker holds unacknowledged (a stopped worker collects no more). @default 64 */
  readonly cap?: number;
  /** Native: the most fds in one batch (one sendmsg), 1-253. @default 64 */
  readonly maxBatch?: number;
  /**
   * Native: how long a batch may wait for more fds, in microseconds (0-1000). 0 flushes at the end
   * of the event-loop turn that queued it: everything one wake-up accepted goes in one batch per
   * worker, and nothing waits for a timer. @default 0
   */
  readonly flushDelayUs?: number;
  /** Native: the most connections one wake-up accepts before the rest wait for the next turn. @default 1024 */
  readonly maxAcceptsPerWakeup?: number;
  /** The IPC message that carries a connection's handle. @default `{ cmd: IPC_CMD, listener, id }` */
  readonly ipcMessage?: IpcMessageBuilder;
}

/** Every default of {@link PrimaryTransportOptions}, in one place. */
export const TRANSPORT_DEFAULTS = Object.freeze({ transport: 'auto', cap: 64, maxBatch: 64, flushDelayUs: 0, maxAcceptsPerWakeup: 1024 } as const);

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new HandoffFdpassError(FdpassErrorCode.INVALID_OPTION, `${name} must be an integer from ${min} to ${max}; got ${String(value)}`);
  return v;
}

/**
 * The primary's side of the transport. Says which one it chose once, on the
 * `handoff:transport:selected` diagnostics channel.
 */
export function createPrimaryTransport(options: PrimaryTransportOptions = {}): PrimaryTransport {
  const requested = options.transport ?? TRANSPORT_DEFAULTS.transport;
  if (requested !== 'auto' && requested !== 'native' && requested !== 'ipc') {
    throw new HandoffFdpassError(FdpassErrorCode.INVALID_OPTION, `transport must be 'auto', 'native' or 'ipc'; got ${String(requested)}`);
  }
  const cap = integer('cap', options.cap, TRANSPORT_DEFAULTS.cap, 1, 1 << 20);
  const maxBatch = integer('maxBatch', options.maxBatch, TRANSPORT_DEFAULTS.maxBatch, 1, 253);
  const flushDelayUs = integer('flushDelayUs', options.flushDelayUs, TRANSPORT_DEFAULTS.flushDelayUs, 0, 1000);
  const maxAcceptsPerWakeup = integer('maxAcceptsPerWakeup', options.maxAcceptsPerWakeup, TRANSPORT_DEFAULTS.maxAcceptsPerWakeup, 1, 65536);
  const message = options.ipcMessage ?? defaultIpcMessage;
  const status = requested === 'ipc' ? { available: false, reason: "transport 'ipc' was asked for" } : nativeStatus();
  if (requested === 'native' && !status.available) {
    throw new HandoffFdpassError(FdpassErrorCode.UNAVAILABLE, `transport 'native' is not available here: ${status.reason}. Use transport 'auto' to fall back to IPC`);
  }
  const transport = status.available
    ? createNativePrimary(binding(), { cap, maxBatch, flushDelayUs, maxAcceptsPerWakeup }, message)
    : createIpcPrimary(cap, message, requested === 'auto' ? status.reason : undefined);
  debug('fdpass: transport %s (asked %s)%s', transport.name, requested, transport.fallbackReason === undefined ? '' : `: ${transport.fallbackReason}`);
  if (channels.selected.hasSubscribers) channels.selected.publish({ requested, transport: transport.name, reason: transport.fallbackReason, binary: status.available ? status.binary : undefined });
  return transport;
}
