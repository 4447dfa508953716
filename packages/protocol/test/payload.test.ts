import { describe, expect, it } from 'vitest';
import { decodeConnectionPayload, encodeConnectionPayload } from '@handoff/protocol';

describe('connection payload (the native link)', () => {
  it('is none when the connection carries nothing', () => {
    expect(encodeConnectionPayload(undefined, undefined)).toBeUndefined();
    expect(encodeConnectionPayload(new Uint8Array(0), new Uint8Array(0))).toBeUndefined();
  });

  it('round-trips a PROXY header, the bytes after it, or either alone', () => {
    const proxy = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\n');
    const head = Buffer.from('GET / HTTP/1.1\r\n');
    for (const [p, h] of [
      [proxy, head],
      [proxy, undefined],
      [undefined, head],
    ] as const) {
      const decoded = decodeConnectionPayload(encodeConnectionPayload(p, h)!);
      expect(decoded?.proxy === undefined ? undefined : Buffer.from(decoded.proxy)).toEqual(p);
      expect(decoded?.head === undefined ? undefined : Buffer.from(decoded.head)).toEqual(h);
    }
  });

  it('reads a payload at an offset of a larger buffer (as the intake hands it)', () => {
    const payload = encodeConnectionPayload(Buffer.from('hdr'), Buffer.from('rest'))!;
    const big = Buffer.concat([Buffer.from('xxxx'), payload, Buffer.from('yy')]).subarray(4, 4 + payload.length);
    const decoded = decodeConnectionPayload(big)!;
    expect(Buffer.from(decoded.proxy!).toString()).toBe('hdr');
    expect(Buffer.from(decoded.head!).toString()).toBe('rest');
  });

  it('is not one when the version or the length does not fit', () => {
    expect(decodeConnectionPayload(Buffer.from([2, 0, 0, 0, 0, 1]))).toBeUndefined();
    expect(decodeConnectionPayload(Buffer.from([1, 9, 0, 0, 0, 1]))).toBeUndefined();
    expect(decodeConnectionPayload(Buffer.from([1, 0]))).toBeUndefined();
  });
});
