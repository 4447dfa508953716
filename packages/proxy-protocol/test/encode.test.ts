import { describe, expect, it } from 'vitest';
import { encodeProxyHeader, parseProxyHeader, proxyTlv, ProxyProtocolErrorCode, type ProxyHeaderInit } from '@handoff/proxy-protocol';

const a4 = (address: string, port = 1) => ({ family: 'IPv4' as const, address, port });
const a6 = (address: string, port = 1) => ({ family: 'IPv6' as const, address, port });

describe('encodeProxyHeader', () => {
  it('writes the v1 line HAProxy writes for IPv4, and UNKNOWN without addresses', () => {
    expect(encodeProxyHeader({ version: 1, source: a4('192.168.0.1', 56324), destination: a4('192.168.0.11', 443) }).toString()).toBe('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
    expect(encodeProxyHeader({ version: 1 }).toString()).toBe('PROXY UNKNOWN\r\n');
  });

  it('writes v2 LOCAL as 16 bytes: version 2, command 0, AF_UNSPEC, length 0', () => {
    const bytes = encodeProxyHeader({ version: 2, command: 'local' });
    expect(bytes.length).toBe(16);
    expect([bytes[12], bytes[13], bytes.readUInt16BE(14)]).toEqual([0x20, 0x00, 0]);
  });

  it('fills the CRC32C TLV given in place, or appends one', () => {
    const init = { version: 2, source: a4('1.2.3.4'), destination: a4('5.6.7.8') } as const;
    const appended = encodeProxyHeader({ ...init, tlvs: [proxyTlv.alpn('h2')], checksum: true });
    const inPlace = encodeProxyHeader({ ...init, tlvs: [{ type: 0x03, value: new Uint8Array(4) }, proxyTlv.alpn('h2')], checksum: true });
    expect(parseProxyHeader(appended)).toMatchObject({ status: 'done', header: { alpn: 'h2' } });
    expect(parseProxyHeader(inPlace)).toMatchObject({ status: 'done', header: { alpn: 'h2' } });
    expect(inPlace[28]).toBe(0x03);
  });

  it.each<[string, ProxyHeaderInit]>([
    ['a bad IPv4 address', { version: 1, source: a4('1.2.3'), destination: a4('1.2.3.4') }],
    ['mixed families', { version: 2, source: a4('1.2.3.4'), destination: a6('::1') }],
    ['a source without a destination', { version: 2, source: a4('1.2.3.4') }],
    ['a port out of range', { version: 2, source: a4('1.2.3.4', 70000), destination: a4('1.2.3.4') }],
    ['v1 LOCAL', { version: 1, command: 'local' }],
    ['v1 with TLVs', { version: 1, tlvs: [proxyTlv.alpn('h2')] }],
    ['v1 over UDP', { version: 1, transport: 'dgram', source: a4('1.2.3.4'), destination: a4('1.2.3.4') }],
    ['v1 with a Unix address', { version: 1, source: { family: 'unix', path: '/a' }, destination: { family: 'unix', path: '/b' } }],
    ['LOCAL with addresses', { version: 2, command: 'local', source: a4('1.2.3.4'), destination: a4('1.2.3.4') }],
    ['a Unix path over 108 bytes', { version: 2, source: { family: 'unix', path: 'x'.repeat(109) }, destination: { family: 'unix', path: '/b' } }],
    ['a header over 65,551 bytes', { version: 2, tlvs: [{ type: 0xe0, value: new Uint8Array(65_535) }] }],
    ['version 3', { version: 3 as 1 }],
  ])('refuses %s with HANDOFF_ERR_PROXY_ENCODE', (_what, init) => {
    expect(() => encodeProxyHeader(init)).toThrow(expect.objectContaining({ code: ProxyProtocolErrorCode.ENCODE }));
  });

  it('refuses a unique id over 128 bytes', () => {
    expect(() => proxyTlv.uniqueId(new Uint8Array(129))).toThrow(expect.objectContaining({ code: ProxyProtocolErrorCode.ENCODE }));
  });
});
