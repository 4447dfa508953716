/** Which peers may send a PROXY header: a list of CIDR blocks, matched against a socket's address. */
import { parseIPv4, parseIPv6 } from './address.js';
import { HandoffProxyProtocolError, ProxyProtocolErrorCode } from './errors.js';

interface Block {
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/** A compiled `trusted` list: whether an address (as `socket.remoteAddress` gives it) is in one of its blocks. */
export type TrustCheck = (address: string | undefined) => boolean;

/** IPv4 bytes of an IPv4 or IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), which a dual-stack listener reports. */
function v4Of(bytes: Uint8Array): Uint8Array | undefined {
  if (bytes.length === 4) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.subarray(12) : undefined;
}

function addressBytes(text: string): Uint8Array | undefined {
  if (text.includes(':')) {
    const bytes = parseIPv6(text);
    return bytes === undefined ? undefined : (v4Of(bytes) ?? bytes);
  }
  return parseIPv4(text);
}

function inBlock(bytes: Uint8Array, block: Block): boolean {
  if (bytes.length !== block.bytes.length) return false;
  let bits = block.prefix;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((bytes[i]! & mask) !== (block.bytes[i]! & mask)) return false;
  }
  return true;
}

/**
 * Compiles a list of CIDR blocks (`10.0.0.0/8`, `::1/128`, or a bare address for one host) into a
 * check. IPv4-mapped IPv6 addresses match IPv4 blocks, as a dual-stack listener reports them so.
 *
 * @throws {HandoffProxyProtocolError} `HANDOFF_ERR_PROXY_OPTIONS` naming the entry that is no CIDR block.
 */
export function createTrustCheck(cidrs: readonly string[]): TrustCheck {
  const blocks: Block[] = [];
  for (const [index, entry] of cidrs.entries()) {
    const slash = typeof entry === 'string' ? entry.indexOf('/') : -1;
    const text = typeof entry !== 'string' ? undefined : slash === -1 ? entry : entry.slice(0, slash);
    const bytes = text === undefined ? undefined : addressBytes(text);
    const prefixText = slash === -1 ? undefined : (entry as string).slice(slash + 1);
    const max = bytes === undefined ? 0 : bytes.length * 8;
    const prefix = prefixText === undefined ? max : /^(?:0|[1-9][0-9]{0,2})$/.test(prefixText) ? Number(prefixText) : NaN;
    // A mapped address written as IPv6 with a prefix counts its prefix over 128 bits.
    const mapped = text !== undefined && text.includes(':') && bytes?.length === 4;
    const effective = mapped && prefixText !== undefined ? prefix - 96 : prefix;
    if (bytes === undefined || !(effective >= 0 && effective <= max)) {
      throw new HandoffProxyProtocolError(ProxyProtocolErrorCode.OPTIONS, `trusted[${index}] is ${JSON.stringify(entry)}, not a CIDR block; write it as 10.0.0.0/8, fd00::/8 or one address`);
    }
    blocks.push({ bytes, prefix: effective });
  }
  return (address) => {
    if (address === undefined) return false;
    const bytes = addressBytes(address);
    if (bytes === undefined) return false;
    for (const block of blocks) if (inBlock(bytes, block)) return true;
    return false;
  };
}
