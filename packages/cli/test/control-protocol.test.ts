// The control protocol's codec, without a socket: each request line checked at the boundary, each
// fault answered with its code (and the request's id where it had one), never a throw.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTROL_COMMANDS, CONTROL_VERSION, ControlErrorCode, decodeRequest, encodeReply } from '../src/control/protocol.js';

const codeOf = (line: string): string | undefined => {
  const r = decodeRequest(line);
  return 'error' in r ? r.error.code : undefined;
};

describe('decodeRequest', () => {
  it('takes every command, with args or none', () => {
    for (const cmd of CONTROL_COMMANDS) expect(decodeRequest(JSON.stringify({ v: CONTROL_VERSION, id: 7, cmd }))).toEqual({ v: CONTROL_VERSION, id: 7, cmd, args: {} });
    expect(decodeRequest('{"v":1,"id":1,"cmd":"scale","args":{"workers":"+1"}}')).toEqual({ v: 1, id: 1, cmd: 'scale', args: { workers: '+1' } });
  });

  it('answers each fault with its code, and with the id once it has one', () => {
    expect(codeOf('not json')).toBe(ControlErrorCode.MALFORMED);
    expect(codeOf('[1]')).toBe(ControlErrorCode.MALFORMED);
    expect(codeOf('null')).toBe(ControlErrorCode.MALFORMED);
    expect(codeOf('{"v":1,"cmd":"status"}')).toBe(ControlErrorCode.MALFORMED);
    expect(codeOf('{"v":1,"id":1.5,"cmd":"status"}')).toBe(ControlErrorCode.MALFORMED);
    expect(decodeRequest('{"v":2,"id":3,"cmd":"status"}')).toEqual({ error: { id: 3, code: ControlErrorCode.VERSION, message: expect.stringContaining('v1') } });
    expect(decodeRequest('{"v":1,"id":4,"cmd":"explode"}')).toEqual({ error: { id: 4, code: ControlErrorCode.UNKNOWN_COMMAND, message: expect.stringContaining(CONTROL_COMMANDS.join(', ')) } });
    expect(decodeRequest('{"v":1,"id":5,"cmd":"scale","args":[1]}')).toMatchObject({ error: { id: 5, code: ControlErrorCode.MALFORMED } });
    expect(decodeRequest('{"v":1,"id":6,"cmd":"scale","args":null}')).toMatchObject({ error: { id: 6, code: ControlErrorCode.MALFORMED } });
  });

  it('never throws, and answers a request or an error with a known code, whatever the line (property)', () => {
    const codes = new Set<string>(Object.values(ControlErrorCode));
    const line = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ v: fc.oneof(fc.constant(1), fc.anything()), id: fc.oneof(fc.integer(), fc.anything()), cmd: fc.oneof(fc.constantFrom(...CONTROL_COMMANDS), fc.string()), args: fc.anything() }, { requiredKeys: [] }).map((o) => JSON.stringify(o) ?? ''),
    );
    fc.assert(
      fc.property(line, (l) => {
        const r = decodeRequest(l);
        if ('error' in r) return codes.has(r.error.code) && typeof r.error.message === 'string';
        return r.v === CONTROL_VERSION && Number.isSafeInteger(r.id) && (CONTROL_COMMANDS as readonly string[]).includes(r.cmd) && typeof r.args === 'object' && r.args !== null;
      }),
    );
  });
});

describe('encodeReply', () => {
  it('writes one line of JSON that reads back as the reply', () => {
    const reply = { v: CONTROL_VERSION, id: 1, type: 'progress' as const, message: 'worker 2 ready\nand more', data: { pid: 4242 } };
    const line = encodeReply(reply);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(JSON.parse(line)).toEqual(reply);
  });
});
