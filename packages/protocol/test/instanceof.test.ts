import { describe, expect, it } from 'vitest';

describe('HandoffError', () => {
  it('holds instanceof across two loaded copies of the package', async () => {
    // Two module instances of the same file, as two installed copies of the package would be.
    const a = (await import('../dist/errors.js?copy=a' as string)) as typeof import('../src/errors.js');
    const b = (await import('../dist/errors.js?copy=b' as string)) as typeof import('../src/errors.js');
    expect(a.HandoffError).not.toBe(b.HandoffError);
    const error = new a.HandoffProtocolError(a.ProtocolErrorCode.MALFORMED, 'x');
    expect(error).toBeInstanceOf(b.HandoffError);
    expect(new b.HandoffError('HANDOFF_ERR_X', 'y')).toBeInstanceOf(a.HandoffError);
    expect(new Error('plain')).not.toBeInstanceOf(a.HandoffError);
    expect({ code: 'HANDOFF_ERR_X' }).not.toBeInstanceOf(a.HandoffError);
    // Subclasses keep ordinary prototype semantics.
    expect(error).toBeInstanceOf(a.HandoffProtocolError);
    expect(new a.HandoffError('HANDOFF_ERR_X', 'y')).not.toBeInstanceOf(a.HandoffProtocolError);
  });

  it('carries its code, its name and a cause', () => {
    return import('@handoff/protocol').then(({ HandoffProtocolError, toHandoffError }) => {
      const cause = new Error('low level');
      const e = new HandoffProtocolError('HANDOFF_ERR_CHANNEL_CLOSED', 'closed', undefined, { cause });
      expect(e.name).toBe('HandoffProtocolError');
      expect(e.code).toBe('HANDOFF_ERR_CHANNEL_CLOSED');
      expect(e.cause).toBe(cause);
      const wrapped = toHandoffError(cause, 'HANDOFF_ERR_X', 'wrapped');
      expect(wrapped.code).toBe('HANDOFF_ERR_X');
      expect(wrapped.cause).toBe(cause);
      expect(toHandoffError(e, 'HANDOFF_ERR_X', 'again')).toBe(e);
    });
  });
});
