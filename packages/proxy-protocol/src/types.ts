/** The shapes a header parses into and the results of parsing. */
import type { HandoffProxyProtocolError } from './errors.js';

/** An IP endpoint, with the family names `net.Socket#remoteFamily` uses. */
export interface ProxyInetAddress {
  readonly family: 'IPv4' | 'IPv6';
  /** In the form Node reports addresses: dotted quad, or RFC 5952 text as `uv_inet_ntop` writes it. */
  readonly address: string;
  readonly port: number;
}

/** A Unix socket endpoint (v2 only). */
export interface ProxyUnixAddress {
  readonly family: 'unix';
  /** The path, trailing NUL bytes removed (an abstract address keeps its leading NUL). */
  readonly path: string;
}

/** One endpoint of the proxied connection. */
export type ProxyAddress = ProxyInetAddress | ProxyUnixAddress;

/** One TLV of a v2 header, undecoded. */
export interface ProxyTlv {
  readonly type: number;
  readonly value: Uint8Array;
}

/** What a {@link TlvType.SSL} TLV says about the client's TLS connection. */
export interface ProxySsl {
  /** The `client` bit field ({@link SslClient}). */
  readonly client: number;
  /** Zero when the client presented a certificate and it verified; non-zero otherwise. */
  readonly verify: number;
  /** `PP2_SUBTYPE_SSL_VERSION`, e.g. `TLSv1.3`. */
  readonly version?: string;
  /** `PP2_SUBTYPE_SSL_CN`: the client certificate's Common Name. */
  readonly cn?: string;
  /** `PP2_SUBTYPE_SSL_CIPHER`, e.g. `ECDHE-RSA-AES128-GCM-SHA256`. */
  readonly cipher?: string;
  /** `PP2_SUBTYPE_SSL_SIG_ALG`, e.g. `RSA-SHA256`. */
  readonly sigAlg?: string;
  /** `PP2_SUBTYPE_SSL_KEY_ALG`, e.g. `RSA2048`. */
  readonly keyAlg?: string;
  /** `PP2_SUBTYPE_SSL_GROUP`, e.g. `secp256r1`. */
  readonly group?: string;
  /** `PP2_SUBTYPE_SSL_SIG_SCHEME`, e.g. `rsa_pss_rsae_sha256`. */
  readonly sigScheme?: string;
  /** `PP2_SUBTYPE_SSL_CLIENT_CERT`: the client certificate, DER. */
  readonly clientCert?: Uint8Array;
  /** Every sub-TLV, undecoded, in order. */
  readonly tlvs: readonly ProxyTlv[];
}

/** A parsed PROXY protocol header. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /**
   * `'proxy'`: the connection is relayed for `source`. `'local'` (v2): the proxy opened it itself
   * (a health check); use the connection's own addresses.
   */
  readonly command: 'proxy' | 'local';
  /** The family the header declares; `'unspec'` for v1 `UNKNOWN` and v2 `AF_UNSPEC`. */
  readonly family: 'IPv4' | 'IPv6' | 'unix' | 'unspec';
  /** The transport the header declares. */
  readonly transport: 'stream' | 'dgram' | 'unspec';
  /**
   * The client, for a `'proxy'` header of a known family and transport. Undefined otherwise: the
   * spec then says to use the connection's own addresses.
   */
  readonly source: ProxyAddress | undefined;
  /** The address the client connected to, when `source` is defined. */
  readonly destination: ProxyAddress | undefined;
  /** Every TLV (v2), undecoded, in order; empty for v1. */
  readonly tlvs: readonly ProxyTlv[];
  /** `PP2_TYPE_ALPN`, one byte per character (latin1), e.g. `h2`. */
  readonly alpn?: string;
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (often TLS SNI). */
  readonly authority?: string;
  /** `PP2_TYPE_UNIQUE_ID`: the proxy's id of this connection. */
  readonly uniqueId?: Uint8Array;
  /** `PP2_TYPE_SSL`, decoded. */
  readonly ssl?: ProxySsl;
  /** `PP2_TYPE_NETNS`: the network namespace's name. */
  readonly netns?: string;
  /** AWS PrivateLink (type `0xEA`, subtype `0x01`): the VPC endpoint id, e.g. `vpce-08d2bf15fac5001c9`. */
  readonly awsVpceId?: string;
  /** `PP2_TYPE_CRC32C`, present only once it was checked against the header. */
  readonly crc32c?: number;
}

/** Options of the parser. */
export interface ProxyParseOptions {
  /**
   * Largest header accepted, in bytes (at least 107, at most 65,551). A v2 header announcing more is
   * refused with `HANDOFF_ERR_PROXY_TOO_LARGE` as soon as its length field arrives.
   * @default 4096
   */
  readonly maxHeaderBytes?: number;
}

/** The header is not complete yet: read at least `needed` more bytes, then parse again. */
export interface ProxyParseIncomplete {
  readonly status: 'incomplete';
  /** A lower bound on the bytes still missing, at least 1. */
  readonly needed: number;
}

/** A complete, valid header. */
export interface ProxyParseDone {
  readonly status: 'done';
  readonly header: ProxyHeader;
  /** The header's length: the payload starts at this offset of the bytes parsed. */
  readonly offset: number;
}

/** The bytes are not a valid header, and more bytes will not make them one. */
export interface ProxyParseError {
  readonly status: 'error';
  readonly error: HandoffProxyProtocolError;
}

/** What parsing the first bytes of a connection says. */
export type ProxyParseResult = ProxyParseIncomplete | ProxyParseDone | ProxyParseError;
