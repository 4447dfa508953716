export { defineConfig, CONFIG_FILES } from './config.js';
export type { HandoffConfig, LogFormat } from './options.js';
export { main, type MainIO } from './main.js';
export { HandoffCliError, CliErrorCode, ExitCode } from './errors.js';
export { CONTROL_VERSION, type ControlReply, type ControlRequest } from './control/protocol.js';
export type { PrimaryStatus, WorkerStatus } from './control/handlers.js';
export { HandoffError } from '@handoff/orchestrator';
