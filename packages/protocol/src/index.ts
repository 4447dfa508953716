export { PROTOCOL_CMD, PROTOCOL_NAME, PROTOCOL_VERSION, MAX_HEAD_BYTES, MAX_LISTEN_INDEX, MAX_PAYLOAD_BYTES, MAX_METRICS_CHARS, MAX_STRING, WorkerEnv } from './constants.js';
export { HandoffError, HandoffProtocolError, isProtocolErrorCode, ProtocolErrorCode, toHandoffError } from './errors.js';
export type {
  BindErrorMessage,
  BindMessage,
  BodyOf,
  ConnectionMessage,
  DrainMessage,
  DrainingMessage,
  Envelope,
  ErrorMessage,
  HandoffMessage,
  HandoffMessageType,
  HelloMessage,
  LimitMessage,
  ListenAddress,
  ListenMessage,
  ListenMode,
  ListenProxy,
  LoadMessage,
  MessageOf,
  MetricsMessage,
  MetricsRequestMessage,
  PingMessage,
  PongMessage,
  PrimaryMessage,
  ReadyMessage,
  ReturnMessage,
  ShutdownMessage,
  UnlistenMessage,
  WorkerMessage,
} from './messages.js';
export { PRIMARY_MESSAGE_TYPES, WORKER_MESSAGE_TYPES } from './messages.js';
export { isHandoffMessage } from './guard.js';
export { decodeMessage, isPathAddress, MESSAGE_TYPES, type DecodeResult } from './decode.js';
export { createMessage, sendMessage, subscribe, type ChannelEnd, type ProtocolHandlers } from './channel.js';
export { Requests, type RequestOptions } from './requests.js';
export { connectionMessage, connectionPayloadOf, decodeConnectionPayload, encodeConnectionPayload, type ConnectionPayload } from './payload.js';
