export { parseProxyHeader, createProxyHeaderParser, type ProxyFeedDone, type ProxyFeedResult, type ProxyHeaderParser } from './parse.js';
export { encodeProxyHeader, proxyTlv, type ProxyHeaderInit, type ProxySslInit } from './encode.js';
export { createTrustCheck, type TrustCheck } from './trust.js';
export { readProxyHeader, type ProxyReadOptions, type ProxyReadResult, type ProxySocket } from './reader.js';
export { HandoffProxyProtocolError, ProxyProtocolErrorCode, isProxyProtocolErrorCode } from './errors.js';
export {
  AWS_VPCE_ID_SUBTYPE,
  DEFAULT_MAX_HEADER_BYTES,
  SslClient,
  SslTlvType,
  TlvType,
  V1_MAX_BYTES,
  V2_MAX_BYTES,
  V2_SIGNATURE,
} from './constants.js';
export { crc32c } from './crc32c.js';
export type {
  ProxyAddress,
  ProxyHeader,
  ProxyInetAddress,
  ProxyParseDone,
  ProxyParseError,
  ProxyParseIncomplete,
  ProxyParseOptions,
  ProxyParseResult,
  ProxySsl,
  ProxyTlv,
  ProxyUnixAddress,
} from './types.js';
