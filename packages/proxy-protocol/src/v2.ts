/** The v2 binary header: signature, version and command, family and transport, length, addresses, TLVs. */
import { formatIPv4, formatIPv6 } from './address.js';
import { UNIX_PATH_BYTES, V2_ADDRESS_BYTES, V2_HEADER_BYTES, V2_SIGNATURE } from './constants.js';
import { crc32cUpdate, crc32cZeros } from './crc32c.js';
import { headerError, HandoffProxyProtocolError, ProxyProtocolErrorCode } from './errors.js';
import { decodeTlvs, splitTlvs } from './tlv.js';
import type { ProxyAddress, ProxyHeader, ProxyParseResult, ProxyTlv } from './types.js';

const FAMILIES = ['unspec', 'IPv4', 'IPv6', 'unix'] as const;
const TRANSPORTS = ['unspec', 'stream', 'dgram'] as const;

function fail(code: ProxyProtocolErrorCode, what: string): ProxyParseResult {
  return { status: 'error', error: headerError(code, what) };
}

/**
 * Parses a v2 header from the start of `bytes` (whose first byte is `\r`). Each fixed byte is
 * checked as soon as it arrives, so garbage is refused early; the body is read only once the
 * whole announced length is there, and never past `maxHeaderBytes`.
 */
export function parseV2(bytes: Uint8Array, maxHeaderBytes: number): ProxyParseResult {
  const have = bytes.length;
  const signature = Math.min(have, V2_SIGNATURE.length);
  for (let i = 0; i < signature; i++) {
    if (bytes[i] !== V2_SIGNATURE[i]) return fail(ProxyProtocolErrorCode.SIGNATURE, 'the connection did not start with a PROXY protocol header');
  }
  if (have > 12) {
    const version = bytes[12]! >> 4;
    if (version !== 2) return fail(ProxyProtocolErrorCode.V2_VERSION, `PROXY v2 signature with version ${version}; only 2 exists`);
    const command = bytes[12]! & 0x0f;
    if (command > 1) return fail(ProxyProtocolErrorCode.V2_COMMAND, `PROXY v2 command ${command}; only LOCAL (0) and PROXY (1) exist`);
  }
  if (have > 13) {
    if (bytes[13]! >> 4 > 3) return fail(ProxyProtocolErrorCode.V2_FAMILY, `PROXY v2 address family ${bytes[13]! >> 4}; only 0-3 exist`);
    if ((bytes[13]! & 0x0f) > 2) return fail(ProxyProtocolErrorCode.V2_FAMILY, `PROXY v2 transport ${bytes[13]! & 0x0f}; only 0-2 exist`);
  }
  if (have < V2_HEADER_BYTES) return { status: 'incomplete', needed: V2_HEADER_BYTES - have };
  const total = V2_HEADER_BYTES + ((bytes[14]! << 8) | bytes[15]!);
  if (total > maxHeaderBytes) return fail(ProxyProtocolErrorCode.TOO_LARGE, `PROXY v2 header of ${total} bytes, more than the ${maxHeaderBytes} allowed (maxHeaderBytes)`);
  if (have < total) return { status: 'incomplete', needed: total - have };
  // A copy, so that the header's views (TLV values) do not pin the socket's read buffer.
  return parseBody(Uint8Array.prototype.slice.call(bytes, 0, total), total);
}

function parseBody(header: Uint8Array, total: number): ProxyParseResult {
  const command = (header[12]! & 0x0f) === 1 ? 'proxy' : 'local';
  const family = FAMILIES[header[13]! >> 4]!;
  const transport = TRANSPORTS[header[13]! & 0x0f]!;
  const addressBytes = V2_ADDRESS_BYTES[family];
  let tlvStart = V2_HEADER_BYTES + addressBytes;
  let source: ProxyAddress | undefined;
  let destination: ProxyAddress | undefined;
  if (tlvStart > total) {
    if (command === 'proxy') {
      return fail(ProxyProtocolErrorCode.V2_ADDRESS, `PROXY v2 ${family} header of ${total - V2_HEADER_BYTES} bytes after the fixed part, fewer than its ${addressBytes}-byte address block`);
    }
    // LOCAL: the spec says to accept it and ignore the address block, whatever its size.
    tlvStart = total;
  } else if (command === 'proxy' && transport !== 'unspec' && family !== 'unspec') {
    [source, destination] = addresses(header, family);
  }
  const tlvs: ProxyTlv[] = [];
  const split = splitTlvs(header, tlvStart, total, tlvs);
  if (split !== undefined) return { status: 'error', error: split };
  const decoded = decodeTlvs(tlvs, header);
  if (decoded instanceof HandoffProxyProtocolError) return { status: 'error', error: decoded };
  const { crcAt, ...fields } = decoded;
  if (crcAt !== undefined) {
    let state = crc32cUpdate(0xffffffff, header, 0, crcAt);
    state = crc32cZeros(state, 4);
    state = crc32cUpdate(state, header, crcAt + 4, total);
    if (((state ^ 0xffffffff) >>> 0) !== fields.crc32c) {
      return fail(ProxyProtocolErrorCode.CHECKSUM, 'the PROXY v2 header does not match its CRC32C; it was damaged or forged');
    }
  }
  const result: ProxyHeader = { version: 2, command, family, transport, source, destination, tlvs, ...fields };
  return { status: 'done', header: result, offset: total };
}

function addresses(header: Uint8Array, family: 'IPv4' | 'IPv6' | 'unix'): [ProxyAddress, ProxyAddress] {
  const at = V2_HEADER_BYTES;
  if (family === 'unix') return [{ family, path: unixPath(header, at) }, { family, path: unixPath(header, at + UNIX_PATH_BYTES) }];
  const size = family === 'IPv4' ? 4 : 16;
  const format = family === 'IPv4' ? formatIPv4 : formatIPv6;
  const ports = at + size * 2;
  return [
    { family, address: format(header, at), port: (header[ports]! << 8) | header[ports + 1]! },
    { family, address: format(header, at + size), port: (header[ports + 2]! << 8) | header[ports + 3]! },
  ];
}

function unixPath(header: Uint8Array, at: number): string {
  let end = at + UNIX_PATH_BYTES;
  while (end > at && header[end - 1] === 0) end--;
  return Buffer.from(header.buffer, header.byteOffset + at, end - at).toString('utf8');
}
