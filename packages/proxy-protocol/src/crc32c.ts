/**
 * CRC32C (Castagnoli), as RFC 4960 appendix B defines it and the PROXY protocol's
 * `PP2_TYPE_CRC32C` uses: reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF.
 */

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Folds `bytes[start, end)` into a running CRC state (start from `0xffffffff`). */
export function crc32cUpdate(state: number, bytes: Uint8Array, start: number, end: number): number {
  let c = state;
  for (let i = start; i < end; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Folds `count` zero bytes into a running CRC state. */
export function crc32cZeros(state: number, count: number): number {
  let c = state;
  for (let i = 0; i < count; i++) c = TABLE[c & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** The CRC32C of a whole byte array. */
export function crc32c(bytes: Uint8Array): number {
  return (crc32cUpdate(0xffffffff, bytes, 0, bytes.length) ^ 0xffffffff) >>> 0;
}
