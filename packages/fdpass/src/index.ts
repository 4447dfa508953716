export { createPrimaryTransport, TRANSPORT_DEFAULTS, type PrimaryTransportOptions } from './transport.js';
export { createWorkerIntake, type IntakeOptions } from './intake.js';
export { nativeStatus, type NativeStatus } from './native.js';
export { FDPASS_FD_ENV } from './spawn.js';
export { MAX_PAYLOAD_BYTES } from './connection.js';
export { IPC_CMD, defaultIpcMessage } from './ipc-primary.js';
export type { IpcMessageBuilder } from './ipc-link.js';
export { socketPath } from './socket.js';
export { channels } from './diagnostics.js';
export { FdpassErrorCode, HandoffFdpassError } from './errors.js';
export type {
  Acceptor,
  AcceptorOptions,
  AcceptorStats,
  Connection,
  IntakeStats,
  LinkHooks,
  LinkStats,
  PrimaryTransport,
  SpawnOptionsLike,
  SpawnPlan,
  TransportChoice,
  TransportName,
  WorkerIntake,
  WorkerLink,
} from './types.js';
