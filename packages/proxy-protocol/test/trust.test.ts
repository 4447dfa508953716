import { describe, expect, it } from 'vitest';
import { createTrustCheck, ProxyProtocolErrorCode } from '@handoff/proxy-protocol';

describe('createTrustCheck', () => {
  it('matches IPv4 and IPv6 blocks, bare addresses, and IPv4-mapped addresses against IPv4 blocks', () => {
    const trusted = createTrustCheck(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
    expect(['10.1.2.3', '::ffff:10.9.9.9', '192.168.1.7', 'fd12::1', '::1'].map(trusted)).toEqual([true, true, true, true, true]);
    expect(['11.0.0.1', '192.168.1.8', 'fe80::1', '::2', undefined, 'nonsense'].map(trusted)).toEqual([false, false, false, false, false, false]);
  });

  it('takes odd prefixes and /0', () => {
    expect(createTrustCheck(['127.0.0.2/31'])('127.0.0.3')).toBe(true);
    expect(createTrustCheck(['127.0.0.2/31'])('127.0.0.4')).toBe(false);
    expect(createTrustCheck(['0.0.0.0/0'])('8.8.8.8')).toBe(true);
    expect(createTrustCheck(['0.0.0.0/0'])('::1')).toBe(false);
    expect(createTrustCheck(['::ffff:127.0.0.0/104'])('127.1.1.1')).toBe(true);
    expect(createTrustCheck([])('127.0.0.1')).toBe(false);
  });

  it.each(['10.0.0.0/33', '10.0.0/8', 'fd00::/129', '10.0.0.0/', '10.0.0.0/08', 'localhost', '::ffff:1.2.3.4/95'])('refuses %s with HANDOFF_ERR_PROXY_OPTIONS naming the entry', (entry) => {
    expect(() => createTrustCheck(['127.0.0.1', entry])).toThrow(expect.objectContaining({ code: ProxyProtocolErrorCode.OPTIONS, message: expect.stringContaining('trusted[1]') }));
  });
});
