import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIPv6, parseIPv6 } from '../src/address.js';
import { crc32c } from '@handoff/proxy-protocol';

describe('IPv6 text', () => {
  it('is written exactly as Node writes remoteAddress, and read back to the same bytes (10,000 cases)', () => {
    const words = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
    fc.assert(
      fc.property(words, (list) => {
        const bytes = new Uint8Array(16);
        list.forEach((w, i) => {
          bytes[i * 2] = w >> 8;
          bytes[i * 2 + 1] = w & 0xff;
        });
        const text = formatIPv6(bytes, 0);
        // SocketAddress normalizes through libuv's inet_pton and inet_ntop, as remoteAddress is written.
        expect(new SocketAddress({ family: 'ipv6', address: text }).address).toBe(text);
        expect(Buffer.from(parseIPv6(text)!)).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 10_000, seed: 0x6 },
    );
  });

  it.each(['::', '::1', '1::', '::ffff:1.2.3.4', '1:2:3:4:5:6:7::', '2001:DB8::A', '0:0:0:0:0:0:0:0'])('reads %s', (text) => {
    expect(parseIPv6(text)).toBeDefined();
  });

  it.each([':', ':::', '1:::2', ':1::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'g::', '::1.2.3', '1.2.3.4::', '1:2:3:4:5:6:7:1.2.3.4'])('refuses %s', (text) => {
    expect(parseIPv6(text)).toBeUndefined();
  });
});

describe('crc32c', () => {
  it('gives the check value of CRC-32C for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });
});
