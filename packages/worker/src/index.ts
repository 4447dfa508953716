export { serve, type ServeHandle, type ServeOptions } from './serve.js';
export { isHandoffWorker, workerId, WORKER_ID_ENV } from './environment.js';
export { HandoffWorkerError, WorkerErrorCode } from './errors.js';
export type { WorkerStats } from './tracker.js';
export { proxyInfo, type ProxyInfo } from './proxy.js';
export { HandoffError } from '@handoff/protocol';
