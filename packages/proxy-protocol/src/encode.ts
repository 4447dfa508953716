/** Writes PROXY protocol headers: for tests, for proxies written in Node, for health checks. */
import { parseIPv4, parseIPv6 } from './address.js';
import { AWS_VPCE_ID_SUBTYPE, MAX_UNIQUE_ID_BYTES, SslTlvType, TlvType, UNIX_PATH_BYTES, V2_HEADER_BYTES, V2_MAX_BYTES, V2_SIGNATURE } from './constants.js';
import { crc32c } from './crc32c.js';
import { HandoffProxyProtocolError, ProxyProtocolErrorCode } from './errors.js';
import type { ProxyAddress, ProxyTlv } from './types.js';

/** What to write. A parsed {@link ProxyHeader} is one, and encodes back to the same bytes. */
export interface ProxyHeaderInit {
  readonly version: 1 | 2;
  /** `'local'` (v2 only): a connection the proxy opened itself; no addresses are written. @default 'proxy' */
  readonly command?: 'proxy' | 'local';
  /** @default 'stream' with addresses, 'unspec' without */
  readonly transport?: 'stream' | 'dgram' | 'unspec';
  /** The client. Without it (and `destination`), v1 writes `UNKNOWN` and v2 `AF_UNSPEC`. */
  readonly source?: ProxyAddress | undefined;
  /** The address the client connected to; the same family as `source`. */
  readonly destination?: ProxyAddress | undefined;
  /** v2 only: the TLVs, written in order, values verbatim (see {@link proxyTlv}). */
  readonly tlvs?: readonly ProxyTlv[];
  /**
   * v2 only: compute a CRC32C over the header and write it into the CRC32C TLV of `tlvs`, or into
   * one appended if there is none.
   * @default false
   */
  readonly checksum?: boolean;
}

function refuse(what: string): never {
  throw new HandoffProxyProtocolError(ProxyProtocolErrorCode.ENCODE, `cannot encode this PROXY header: ${what}`);
}

function inetBytes(address: ProxyAddress, family: 'IPv4' | 'IPv6'): Uint8Array {
  if (address.family !== family) refuse(`source and destination are of different families`);
  const bytes = family === 'IPv4' ? parseIPv4(address.address) : parseIPv6(address.address);
  if (bytes === undefined) refuse(`${JSON.stringify(address.address)} is not an ${family} address`);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) refuse(`port ${address.port} is not in 0-65535`);
  return bytes;
}

function checkedPair(init: ProxyHeaderInit): [ProxyAddress, ProxyAddress] | undefined {
  const { source, destination } = init;
  if (source === undefined && destination === undefined) return undefined;
  if (source === undefined || destination === undefined) refuse('source and destination go together');
  if (source.family !== destination.family) refuse('source and destination are of different families');
  return [source, destination];
}

function encodeV1(init: ProxyHeaderInit): Buffer {
  if (init.command === 'local') refuse('v1 has no LOCAL command (write a v2 header, or no source for UNKNOWN)');
  if (init.tlvs !== undefined && init.tlvs.length > 0) refuse('v1 has no TLVs');
  if (init.checksum === true) refuse('v1 has no checksum');
  const pair = checkedPair(init);
  if (pair === undefined) {
    if (init.transport !== undefined && init.transport !== 'unspec') refuse('v1 writes UNKNOWN without addresses');
    return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  }
  const [source, destination] = pair;
  if (source.family === 'unix' || destination.family === 'unix') refuse('v1 carries only TCP over IPv4 or IPv6');
  if (init.transport !== undefined && init.transport !== 'stream') refuse('v1 carries only TCP (stream)');
  inetBytes(source, source.family);
  inetBytes(destination, source.family);
  const protocol = source.family === 'IPv4' ? 'TCP4' : 'TCP6';
  return Buffer.from(`PROXY ${protocol} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
}

function addressBlock(pair: [ProxyAddress, ProxyAddress] | undefined): { family: number; bytes: Uint8Array } {
  if (pair === undefined) return { family: 0, bytes: new Uint8Array(0) };
  const [source, destination] = pair;
  if (source.family === 'unix' && destination.family === 'unix') {
    const bytes = new Uint8Array(UNIX_PATH_BYTES * 2);
    for (const [i, path] of [source.path, destination.path].entries()) {
      const encoded = Buffer.from(path, 'utf8');
      if (encoded.length > UNIX_PATH_BYTES) refuse(`a Unix path of ${encoded.length} bytes, more than ${UNIX_PATH_BYTES}`);
      bytes.set(encoded, i * UNIX_PATH_BYTES);
    }
    return { family: 3, bytes };
  }
  if (source.family === 'unix' || destination.family === 'unix') refuse('source and destination are of different families');
  const family = source.family;
  const size = family === 'IPv4' ? 4 : 16;
  const bytes = new Uint8Array(size * 2 + 4);
  bytes.set(inetBytes(source, family), 0);
  bytes.set(inetBytes(destination, family), size);
  bytes[size * 2] = source.port >> 8;
  bytes[size * 2 + 1] = source.port & 0xff;
  bytes[size * 2 + 2] = destination.port >> 8;
  bytes[size * 2 + 3] = destination.port & 0xff;
  return { family: family === 'IPv4' ? 1 : 2, bytes };
}

const TRANSPORT_BITS = { unspec: 0, stream: 1, dgram: 2 } as const;

function encodeV2(init: ProxyHeaderInit): Buffer {
  const local = init.command === 'local';
  const pair = checkedPair(init);
  if (local && pair !== undefined) refuse('a LOCAL header carries no addresses');
  const block = addressBlock(pair);
  const transport = init.transport ?? (pair === undefined ? 'unspec' : 'stream');
  if (pair === undefined && transport !== 'unspec') refuse(`transport ${transport} without addresses`);
  if (pair !== undefined && transport === 'unspec') refuse('addresses with transport unspec would be ignored by the receiver');
  const tlvs = [...(init.tlvs ?? [])];
  if (init.checksum === true && !tlvs.some((tlv) => tlv.type === TlvType.CRC32C)) tlvs.push({ type: TlvType.CRC32C, value: new Uint8Array(4) });
  let total = V2_HEADER_BYTES + block.bytes.length;
  for (const tlv of tlvs) {
    if (!Number.isInteger(tlv.type) || tlv.type < 0 || tlv.type > 0xff) refuse(`TLV type ${tlv.type} is not a byte`);
    if (tlv.value.length > 0xffff) refuse(`a TLV of ${tlv.value.length} bytes, more than 65535`);
    total += 3 + tlv.value.length;
  }
  if (total > V2_MAX_BYTES) refuse(`a header of ${total} bytes, more than ${V2_MAX_BYTES}`);
  const out = Buffer.alloc(total);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x20 | (local ? 0 : 1);
  out[13] = (block.family << 4) | TRANSPORT_BITS[transport];
  out.writeUInt16BE(total - V2_HEADER_BYTES, 14);
  out.set(block.bytes, V2_HEADER_BYTES);
  let at = V2_HEADER_BYTES + block.bytes.length;
  let crcAt = -1;
  for (const tlv of tlvs) {
    out[at] = tlv.type;
    out.writeUInt16BE(tlv.value.length, at + 1);
    if (tlv.type === TlvType.CRC32C && init.checksum === true && crcAt === -1) {
      if (tlv.value.length !== 4) refuse('a CRC32C TLV must be 4 bytes');
      crcAt = at + 3;
    } else out.set(tlv.value, at + 3);
    at += 3 + tlv.value.length;
  }
  if (crcAt !== -1) out.writeUInt32BE(crc32c(out), crcAt);
  return out;
}

/**
 * Writes a PROXY protocol header. A header that {@link parseProxyHeader} returned encodes back to
 * the bytes it was parsed from (v1 `UNKNOWN` lines lose what followed `UNKNOWN`).
 *
 * @throws {HandoffProxyProtocolError} `HANDOFF_ERR_PROXY_ENCODE` for a header that cannot be
 * written: a bad address or port, mixed families, v1 with TLVs or a Unix address, a TLV too large.
 */
export function encodeProxyHeader(init: ProxyHeaderInit): Buffer {
  if (init.version === 1) return encodeV1(init);
  if (init.version === 2) return encodeV2(init);
  return refuse(`version ${String(init.version)}; only 1 and 2 exist`);
}

function ascii(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

function sub(type: number, value: Uint8Array | string | undefined, encoding: 'latin1' | 'utf8' = 'latin1'): Buffer[] {
  if (value === undefined) return [];
  const bytes = typeof value === 'string' ? Buffer.from(value, encoding) : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(bytes.length, 1);
  return [head, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)];
}

/** What {@link proxyTlv.ssl} writes. */
export interface ProxySslInit {
  /** The `client` bit field ({@link SslClient}). @default SslClient.SSL */
  readonly client?: number;
  /** 0 when the client's certificate verified. @default 0 */
  readonly verify?: number;
  readonly version?: string;
  readonly cn?: string;
  readonly cipher?: string;
  readonly sigAlg?: string;
  readonly keyAlg?: string;
  readonly group?: string;
  readonly sigScheme?: string;
  readonly clientCert?: Uint8Array;
}

/** Builders of the TLVs the parser decodes, for {@link ProxyHeaderInit.tlvs}. */
export const proxyTlv = Object.freeze({
  /** `PP2_TYPE_ALPN`, e.g. `proxyTlv.alpn('h2')`. */
  alpn: (protocol: string): ProxyTlv => ({ type: TlvType.ALPN, value: ascii(protocol) }),
  /** `PP2_TYPE_AUTHORITY`: the host name, UTF-8. */
  authority: (host: string): ProxyTlv => ({ type: TlvType.AUTHORITY, value: Buffer.from(host, 'utf8') }),
  /** `PP2_TYPE_UNIQUE_ID`: at most 128 bytes. */
  uniqueId: (id: Uint8Array | string): ProxyTlv => {
    const value = typeof id === 'string' ? Buffer.from(id, 'utf8') : id;
    if (value.length > MAX_UNIQUE_ID_BYTES) refuse(`a unique id of ${value.length} bytes, more than ${MAX_UNIQUE_ID_BYTES}`);
    return { type: TlvType.UNIQUE_ID, value };
  },
  /** `PP2_TYPE_NOOP`: `length` bytes of padding. */
  noop: (length: number): ProxyTlv => ({ type: TlvType.NOOP, value: new Uint8Array(length) }),
  /** `PP2_TYPE_NETNS`: the network namespace's name. */
  netns: (name: string): ProxyTlv => ({ type: TlvType.NETNS, value: ascii(name) }),
  /** AWS PrivateLink's VPC endpoint id (type `0xEA`, subtype `0x01`). */
  awsVpceId: (id: string): ProxyTlv => ({ type: TlvType.AWS, value: Buffer.concat([Uint8Array.of(AWS_VPCE_ID_SUBTYPE), ascii(id)]) }),
  /** `PP2_TYPE_SSL` with its sub-TLVs, in the order of {@link SslTlvType}. */
  ssl: (ssl: ProxySslInit): ProxyTlv => {
    const fixed = Buffer.alloc(5);
    fixed[0] = ssl.client ?? 0x01;
    fixed.writeUInt32BE((ssl.verify ?? 0) >>> 0, 1);
    const value = Buffer.concat([
      fixed,
      ...sub(SslTlvType.VERSION, ssl.version),
      ...sub(SslTlvType.CN, ssl.cn, 'utf8'),
      ...sub(SslTlvType.CIPHER, ssl.cipher),
      ...sub(SslTlvType.SIG_ALG, ssl.sigAlg),
      ...sub(SslTlvType.KEY_ALG, ssl.keyAlg),
      ...sub(SslTlvType.GROUP, ssl.group),
      ...sub(SslTlvType.SIG_SCHEME, ssl.sigScheme),
      ...sub(SslTlvType.CLIENT_CERT, ssl.clientCert),
    ]);
    return { type: TlvType.SSL, value };
  },
});
