/** v2 TLVs: the list, and the known types decoded into a header's fields. */
import { isUtf8 } from 'node:buffer';
import { AWS_VPCE_ID_SUBTYPE, MAX_UNIQUE_ID_BYTES, SslTlvType, TlvType } from './constants.js';
import { headerError, HandoffProxyProtocolError, ProxyProtocolErrorCode } from './errors.js';
import type { ProxySsl, ProxyTlv } from './types.js';

/** The known TLVs of a header, decoded; `crcAt` is where the CRC32C value sits, for the check. */
export interface DecodedTlvs {
  alpn?: string;
  authority?: string;
  uniqueId?: Uint8Array;
  ssl?: ProxySsl;
  netns?: string;
  awsVpceId?: string;
  crc32c?: number;
  crcAt?: number;
}

function tlvError(what: string): HandoffProxyProtocolError {
  return headerError(ProxyProtocolErrorCode.TLV, `malformed PROXY v2 TLV: ${what}`);
}

/** Splits `bytes[start, end)` into TLVs (values are views of `bytes`), or an error if one overruns. */
export function splitTlvs(bytes: Uint8Array, start: number, end: number, out: ProxyTlv[]): HandoffProxyProtocolError | undefined {
  let at = start;
  while (at < end) {
    if (at + 3 > end) return tlvError(`${end - at} bytes left where a TLV needs at least 3`);
    const type = bytes[at]!;
    const length = (bytes[at + 1]! << 8) | bytes[at + 2]!;
    if (at + 3 + length > end) return tlvError(`type 0x${type.toString(16)} announces ${length} bytes where ${end - at - 3} remain`);
    out.push({ type, value: bytes.subarray(at + 3, at + 3 + length) });
    at += 3 + length;
  }
  return undefined;
}

function text(value: Uint8Array, encoding: 'latin1' | 'utf8'): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString(encoding);
}

function utf8(value: Uint8Array, name: string): string | HandoffProxyProtocolError {
  return isUtf8(value) ? text(value, 'utf8') : tlvError(`${name} is not UTF-8`);
}

/**
 * Decodes the known TLVs, whose values are views of `header`; `crcAt` is where the CRC32C value
 * starts in `header`, so that the check can zero it. A known type twice is refused: two answers to
 * one question.
 */
export function decodeTlvs(tlvs: readonly ProxyTlv[], header: Uint8Array): DecodedTlvs | HandoffProxyProtocolError {
  const out: DecodedTlvs = {};
  const seen = new Set<number>();
  for (let i = 0; i < tlvs.length; i++) {
    const { type, value } = tlvs[i]!;
    if (type === TlvType.NOOP || (type !== TlvType.ALPN && type !== TlvType.AUTHORITY && type !== TlvType.CRC32C && type !== TlvType.UNIQUE_ID && type !== TlvType.SSL && type !== TlvType.NETNS && type !== TlvType.AWS)) continue;
    if (type !== TlvType.AWS) {
      if (seen.has(type)) return tlvError(`type 0x${type.toString(16)} appears twice`);
      seen.add(type);
    }
    switch (type) {
      case TlvType.ALPN:
        out.alpn = text(value, 'latin1');
        break;
      case TlvType.AUTHORITY: {
        const authority = utf8(value, 'the authority');
        if (typeof authority !== 'string') return authority;
        out.authority = authority;
        break;
      }
      case TlvType.CRC32C:
        if (value.length !== 4) return tlvError(`CRC32C of ${value.length} bytes instead of 4`);
        out.crc32c = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
        out.crcAt = value.byteOffset - header.byteOffset;
        break;
      case TlvType.UNIQUE_ID:
        if (value.length > MAX_UNIQUE_ID_BYTES) return tlvError(`unique id of ${value.length} bytes, more than ${MAX_UNIQUE_ID_BYTES}`);
        out.uniqueId = value;
        break;
      case TlvType.SSL: {
        const ssl = decodeSsl(value);
        if (ssl instanceof HandoffProxyProtocolError) return ssl;
        out.ssl = ssl;
        break;
      }
      case TlvType.NETNS:
        out.netns = text(value, 'latin1');
        break;
      case TlvType.AWS:
        if (value.length === 0) return tlvError('an AWS TLV without its subtype byte');
        if (value[0] === AWS_VPCE_ID_SUBTYPE) {
          if (out.awsVpceId !== undefined) return tlvError('the AWS VPC endpoint id appears twice');
          out.awsVpceId = text(value.subarray(1), 'latin1');
        }
        break;
    }
  }
  return out;
}

function decodeSsl(value: Uint8Array): ProxySsl | HandoffProxyProtocolError {
  if (value.length < 5) return tlvError(`SSL TLV of ${value.length} bytes, fewer than its 5-byte client and verify fields`);
  const tlvs: ProxyTlv[] = [];
  const problem = splitTlvs(value, 5, value.length, tlvs);
  if (problem !== undefined) return problem;
  const ssl: { -readonly [K in keyof ProxySsl]: ProxySsl[K] } = {
    client: value[0]!,
    verify: ((value[1]! << 24) | (value[2]! << 16) | (value[3]! << 8) | value[4]!) >>> 0,
    tlvs,
  };
  const seen = new Set<number>();
  for (const sub of tlvs) {
    if (sub.type < SslTlvType.VERSION || sub.type > SslTlvType.CLIENT_CERT) continue;
    if (seen.has(sub.type)) return tlvError(`SSL sub-TLV 0x${sub.type.toString(16)} appears twice`);
    seen.add(sub.type);
    switch (sub.type) {
      case SslTlvType.VERSION:
        ssl.version = text(sub.value, 'latin1');
        break;
      case SslTlvType.CN: {
        const cn = utf8(sub.value, 'the SSL common name');
        if (typeof cn !== 'string') return cn;
        ssl.cn = cn;
        break;
      }
      case SslTlvType.CIPHER:
        ssl.cipher = text(sub.value, 'latin1');
        break;
      case SslTlvType.SIG_ALG:
        ssl.sigAlg = text(sub.value, 'latin1');
        break;
      case SslTlvType.KEY_ALG:
        ssl.keyAlg = text(sub.value, 'latin1');
        break;
      case SslTlvType.GROUP:
        ssl.group = text(sub.value, 'latin1');
        break;
      case SslTlvType.SIG_SCHEME:
        ssl.sigScheme = text(sub.value, 'latin1');
        break;
      case SslTlvType.CLIENT_CERT:
        ssl.clientCert = sub.value;
        break;
    }
  }
  return ssl;
}
