/**
 * IP addresses between their text and their bytes. Text is read strictly (v1's canonical forms)
 * and written the way Node reports `socket.remoteAddress`, so that a header's source and a direct
 * connection's address compare equal and hash alike (`ipHash()`).
 */

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** The 4 bytes of a dotted-quad IPv4 address (no leading zeros), or undefined. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

function readWords(list: readonly string[]): number[] | undefined {
  const out: number[] = [];
  for (const word of list) {
    if (!HEX_GROUP.test(word)) return undefined;
    out.push(parseInt(word, 16));
  }
  return out;
}

/** The 16 bytes of an IPv6 address (hex groups, at most one `::`, optionally a trailing dotted quad), or undefined. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return undefined;
  const head = gap === -1 ? text : text.slice(0, gap);
  const tail = gap === -1 ? '' : text.slice(gap + 2);
  const headWords = head === '' ? [] : head.split(':');
  const tailWords = tail === '' ? [] : tail.split(':');
  // A dotted quad may stand for the last two words only.
  const lastList = gap === -1 ? headWords : tailWords;
  let v4: Uint8Array | undefined;
  const last = lastList[lastList.length - 1];
  if (last !== undefined && last.includes('.')) {
    v4 = parseIPv4(last);
    if (v4 === undefined) return undefined;
    lastList.pop();
  }
  const before = readWords(headWords);
  const after = readWords(tailWords);
  if (before === undefined || after === undefined) return undefined;
  const given = before.length + after.length + (v4 === undefined ? 0 : 2);
  if (gap === -1 ? given !== 8 : given > 7) return undefined;
  const words: number[] = [...before];
  for (let i = given; i < 8; i++) words.push(0);
  words.push(...after);
  const bytes = new Uint8Array(16);
  for (let i = 0; i < words.length; i++) {
    bytes[i * 2] = words[i]! >> 8;
    bytes[i * 2 + 1] = words[i]! & 0xff;
  }
  if (v4 !== undefined) bytes.set(v4, 12);
  return bytes;
}

/** Dotted-quad text of the 4 bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/**
 * RFC 5952 text of the 16 bytes at `offset`, exactly as libuv's `inet_ntop6` (and so Node's
 * `remoteAddress`) writes it: lower case, the longest run of two or more zero words (the first of
 * equal runs) as `::`, and IPv4-mapped or IPv4-compatible addresses with a dotted quad.
 */
export function formatIPv6(bytes: Uint8Array, offset: number): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (bytes[offset + i * 2]! << 8) | bytes[offset + i * 2 + 1]!;
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (curLen > bestLen) [bestBase, bestLen] = [curBase, curLen];
      curBase = -1;
    }
  }
  if (curBase !== -1 && curLen > bestLen) [bestBase, bestLen] = [curBase, curLen];
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      return out + formatIPv4(bytes, offset + 12);
    }
    out += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}
