/** The v1 text line: `PROXY TCP4|TCP6|UNKNOWN <src> <dst> <sport> <dport>\r\n`, at most 107 bytes. */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './address.js';
import { V1_MAX_BYTES, V1_MIN_BYTES, V1_PREFIX } from './constants.js';
import { headerError, ProxyProtocolErrorCode } from './errors.js';
import type { ProxyHeader, ProxyInetAddress, ProxyParseResult } from './types.js';

const CR = 0x0d;
const LF = 0x0a;
const PORT = /^(?:0|[1-9][0-9]{0,4})$/;
const NO_TLVS: readonly never[] = Object.freeze([]);

function malformed(what: string): ProxyParseResult {
  return { status: 'error', error: headerError(ProxyProtocolErrorCode.V1_MALFORMED, `malformed PROXY v1 line: ${what}`) };
}

/**
 * Parses a v1 line from the start of `bytes` (whose first byte is `P`). Waits for the CRLF before
 * reading any field, as the spec asks, but refuses a wrong prefix, a lone CR or LF, and a line with
 * no CRLF in 107 bytes at once.
 */
export function parseV1(bytes: Uint8Array): ProxyParseResult {
  const have = bytes.length;
  const prefix = Math.min(have, V1_PREFIX.length);
  for (let i = 0; i < prefix; i++) {
    if (bytes[i] !== V1_PREFIX[i]) {
      if (i < 5) return { status: 'error', error: headerError(ProxyProtocolErrorCode.SIGNATURE, 'the connection did not start with a PROXY protocol header') };
      return malformed("'PROXY' is not followed by a space");
    }
  }
  const scan = Math.min(have, V1_MAX_BYTES);
  for (let i = 0; i < scan; i++) {
    const byte = bytes[i];
    if (byte === LF) return malformed('a line feed without a carriage return before it');
    if (byte !== CR) continue;
    if (i + 1 >= V1_MAX_BYTES) break;
    if (i + 1 === have) return { status: 'incomplete', needed: 1 };
    if (bytes[i + 1] !== LF) return malformed('a carriage return not followed by a line feed');
    return parseLine(bytes, i);
  }
  if (have >= V1_MAX_BYTES) {
    return { status: 'error', error: headerError(ProxyProtocolErrorCode.V1_TOO_LONG, `no CRLF within the first ${V1_MAX_BYTES} bytes of a PROXY v1 line`) };
  }
  return { status: 'incomplete', needed: Math.max(1, V1_MIN_BYTES - have) };
}

function parseLine(bytes: Uint8Array, cr: number): ProxyParseResult {
  const line = Buffer.from(bytes.buffer, bytes.byteOffset, cr).toString('latin1');
  const offset = cr + 2;
  if (line === 'PROXY UNKNOWN' || line.startsWith('PROXY UNKNOWN ')) {
    // The spec: "the receiver must ignore anything presented before the CRLF is found".
    const header: ProxyHeader = { version: 1, command: 'proxy', family: 'unspec', transport: 'unspec', source: undefined, destination: undefined, tlvs: NO_TLVS };
    return { status: 'done', header, offset };
  }
  const fields = line.split(' ');
  if (fields.length !== 6) return malformed(`${fields.length - 1} fields where TCP4 and TCP6 have 5, separated by single spaces`);
  const [, protocol, src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  let family: 'IPv4' | 'IPv6';
  let source: Uint8Array | undefined;
  let destination: Uint8Array | undefined;
  if (protocol === 'TCP4') {
    family = 'IPv4';
    source = parseIPv4(src);
    destination = parseIPv4(dst);
  } else if (protocol === 'TCP6') {
    family = 'IPv6';
    source = parseIPv6(src);
    destination = parseIPv6(dst);
  } else {
    return malformed('the protocol is none of TCP4, TCP6, UNKNOWN');
  }
  if (source === undefined || destination === undefined) return malformed(`an address that is not a canonical ${family} address`);
  const sourcePort = port(sport);
  const destinationPort = port(dport);
  if (sourcePort === undefined || destinationPort === undefined) return malformed('a port that is not a decimal in 0-65535 without leading zeros');
  const format = family === 'IPv4' ? formatIPv4 : formatIPv6;
  const from: ProxyInetAddress = { family, address: format(source, 0), port: sourcePort };
  const to: ProxyInetAddress = { family, address: format(destination, 0), port: destinationPort };
  const header: ProxyHeader = { version: 1, command: 'proxy', family, transport: 'stream', source: from, destination: to, tlvs: NO_TLVS };
  return { status: 'done', header, offset };
}

function port(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const value = Number(text);
  return value <= 0xffff ? value : undefined;
}
