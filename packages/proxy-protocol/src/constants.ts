/** The 12 bytes that open every PROXY protocol v2 header (`\r\n\r\n\0\r\nQUIT\n`). */
export const V2_SIGNATURE: Readonly<Uint8Array> = Uint8Array.of(0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a);

/** The 6 bytes that open every PROXY protocol v1 line (`PROXY `). */
export const V1_PREFIX: Readonly<Uint8Array> = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20);

/**
 * Longest v1 line the spec lets a receiver demand, CRLF included:
 * `PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n` is 107 bytes.
 */
export const V1_MAX_BYTES = 107;

/** Shortest complete v1 line: `PROXY UNKNOWN\r\n`. */
export const V1_MIN_BYTES = 15;

/** Size of the fixed part of a v2 header: signature, version and command, family, length. */
export const V2_HEADER_BYTES = 16;

/** Largest header v2 can announce: the fixed part plus a 16-bit length. */
export const V2_MAX_BYTES = V2_HEADER_BYTES + 0xffff;

/**
 * Default bound on a header's size, in bytes. Headers from HAProxy, nginx and cloud load balancers
 * are well under it (addresses plus a few short TLVs); raise it for proxies that forward client
 * certificates. A v2 header that announces more is refused as soon as its 16th byte arrives.
 */
export const DEFAULT_MAX_HEADER_BYTES = 4096;

/** Bytes of the address block of each v2 family: IPv4 and IPv6 with ports, and two 108-byte paths. */
export const V2_ADDRESS_BYTES = { unspec: 0, IPv4: 12, IPv6: 36, unix: 216 } as const;

/** Size of one `sun_path` in a v2 AF_UNIX address block. */
export const UNIX_PATH_BYTES = 108;

/** Most bytes the spec allows in a `PP2_TYPE_UNIQUE_ID` value. */
export const MAX_UNIQUE_ID_BYTES = 128;

/** TLV types registered by the spec (`PP2_TYPE_*`), and AWS's VPC endpoint type. */
export const TlvType = {
  /** Application-Layer Protocol Negotiation, e.g. `h2`. */
  ALPN: 0x01,
  /** The host name the client asked for (TLS SNI or otherwise), UTF-8. */
  AUTHORITY: 0x02,
  /** CRC32C of the whole header, computed with this field zeroed. */
  CRC32C: 0x03,
  /** Padding; ignored. */
  NOOP: 0x04,
  /** An opaque id of up to 128 bytes for the connection, chosen by the proxy. */
  UNIQUE_ID: 0x05,
  /** TLS facts about the client's connection, with sub-TLVs ({@link SslTlvType}). */
  SSL: 0x20,
  /** The network namespace's name, US-ASCII. */
  NETNS: 0x30,
  /** AWS PrivateLink: a subtype byte (`0x01`: the VPC endpoint id) and a US-ASCII value. */
  AWS: 0xea,
} as const;

/** Sub-TLV types inside a {@link TlvType.SSL} TLV (`PP2_SUBTYPE_SSL_*`). */
export const SslTlvType = {
  VERSION: 0x21,
  CN: 0x22,
  CIPHER: 0x23,
  SIG_ALG: 0x24,
  KEY_ALG: 0x25,
  GROUP: 0x26,
  SIG_SCHEME: 0x27,
  CLIENT_CERT: 0x28,
} as const;

/** Bits of the SSL TLV's `client` field (`PP2_CLIENT_*`). */
export const SslClient = {
  /** The client connected over SSL/TLS. */
  SSL: 0x01,
  /** The client presented a certificate on this connection. */
  CERT_CONN: 0x02,
  /** The client presented a certificate at least once in this TLS session. */
  CERT_SESS: 0x04,
} as const;

/** Subtype of an {@link TlvType.AWS} TLV that carries the VPC endpoint id. */
export const AWS_VPCE_ID_SUBTYPE = 0x01;
