import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HandoffError } from '@handoff/protocol';
import { HandoffProxyProtocolError, isProxyProtocolErrorCode, parseProxyHeader, ProxyProtocolErrorCode } from '@handoff/proxy-protocol';

describe('HandoffProxyProtocolError', () => {
  it('is a HandoffError with its code and name, also across two loaded copies', async () => {
    const result = parseProxyHeader(Buffer.from('GET /'));
    if (result.status !== 'error') throw new Error('expected an error');
    expect(result.error).toBeInstanceOf(HandoffError);
    expect(result.error.name).toBe('HandoffProxyProtocolError');
    expect(result.error.code).toBe('HANDOFF_ERR_PROXY_SIGNATURE');
    expect(result.error.message).toMatch(/send-proxy/);
    const copy = (await import('../dist/errors.js?copy=a' as string)) as typeof import('../src/errors.js');
    expect(copy.HandoffProxyProtocolError).not.toBe(HandoffProxyProtocolError);
    expect(new copy.HandoffProxyProtocolError(ProxyProtocolErrorCode.TLV, 'x')).toBeInstanceOf(HandoffError);
  });

  it('has every code documented in the README, and no other', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const documented = new Set(readme.match(/HANDOFF_ERR_PROXY_[A-Z0-9_]+/g));
    expect([...documented].sort()).toEqual(Object.values(ProxyProtocolErrorCode).sort());
    expect(isProxyProtocolErrorCode('HANDOFF_ERR_PROXY_TLV')).toBe(true);
    expect(isProxyProtocolErrorCode('HANDOFF_ERR_X')).toBe(false);
  });
});
