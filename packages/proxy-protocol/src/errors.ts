/**
 * Errors of the PROXY protocol: a header the parser refuses, and a connection that a reader of
 * headers closes. Every one is a `HandoffError` with a stable `code`.
 */
import { HandoffError } from '@handoff/protocol';

/** Codes of {@link HandoffProxyProtocolError}. */
export const ProxyProtocolErrorCode = {
  /** The first bytes are neither `PROXY ` (v1) nor the v2 signature. */
  SIGNATURE: 'HANDOFF_ERR_PROXY_SIGNATURE',
  /** A v1 line that does not match the spec exactly (fields, spaces, addresses, ports, CRLF). */
  V1_MALFORMED: 'HANDOFF_ERR_PROXY_V1_MALFORMED',
  /** No CRLF within the first 107 bytes of a v1 line. */
  V1_TOO_LONG: 'HANDOFF_ERR_PROXY_V1_TOO_LONG',
  /** A v2 header whose version nibble is not 2. */
  V2_VERSION: 'HANDOFF_ERR_PROXY_V2_VERSION',
  /** A v2 command other than LOCAL (0) or PROXY (1). */
  V2_COMMAND: 'HANDOFF_ERR_PROXY_V2_COMMAND',
  /** A v2 address family above AF_UNIX (3) or a transport above DGRAM (2). */
  V2_FAMILY: 'HANDOFF_ERR_PROXY_V2_FAMILY',
  /** A v2 PROXY header whose length is too short for its family's address block. */
  V2_ADDRESS: 'HANDOFF_ERR_PROXY_V2_ADDRESS',
  /** A v2 TLV that overruns the header, a known TLV with a value the spec forbids, or a repeated one. */
  TLV: 'HANDOFF_ERR_PROXY_TLV',
  /** The v2 header's CRC32C TLV does not match the header. */
  CHECKSUM: 'HANDOFF_ERR_PROXY_CHECKSUM',
  /** The header is larger than the configured bound (`maxHeaderBytes`). */
  TOO_LARGE: 'HANDOFF_ERR_PROXY_TOO_LARGE',
  /** The connection sent no complete header within the timeout. */
  TIMEOUT: 'HANDOFF_ERR_PROXY_TIMEOUT',
  /** The connection ended (or failed) before its header was complete. */
  CLOSED: 'HANDOFF_ERR_PROXY_CLOSED',
  /** Too many connections of the listener are still sending their header (`maxPending`): one more was closed. */
  BUSY: 'HANDOFF_ERR_PROXY_BUSY',
  /** The connection comes from an address outside the listener's `trusted` list. */
  UNTRUSTED: 'HANDOFF_ERR_PROXY_UNTRUSTED',
  /** Options that cannot work: a `maxHeaderBytes` out of range, a `trusted` entry that is no CIDR, a bad timeout. */
  OPTIONS: 'HANDOFF_ERR_PROXY_OPTIONS',
  /** The encoder was given a header it cannot write (a bad address, port, path or size). */
  ENCODE: 'HANDOFF_ERR_PROXY_ENCODE',
} as const;

/** One of the values of {@link ProxyProtocolErrorCode}. */
export type ProxyProtocolErrorCode = (typeof ProxyProtocolErrorCode)[keyof typeof ProxyProtocolErrorCode];

const CODES: ReadonlySet<string> = new Set(Object.values(ProxyProtocolErrorCode));

/** Whether `code` is one of {@link ProxyProtocolErrorCode}. */
export function isProxyProtocolErrorCode(code: unknown): code is ProxyProtocolErrorCode {
  return typeof code === 'string' && CODES.has(code);
}

/** A PROXY protocol header that was refused, or a connection closed for want of one. */
export class HandoffProxyProtocolError extends HandoffError {
  override readonly code: ProxyProtocolErrorCode;

  constructor(code: ProxyProtocolErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.code = code;
  }
}

const HINT = 'the peer must be a proxy that sends a PROXY protocol header (HAProxy: send-proxy or send-proxy-v2; nginx: proxy_protocol on), or the listener must not expect one';

/** A refusal with the hint every header error ends with. */
export function headerError(code: ProxyProtocolErrorCode, what: string): HandoffProxyProtocolError {
  return new HandoffProxyProtocolError(code, `${what}; ${HINT}`);
}
