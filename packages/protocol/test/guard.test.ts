import { describe, expect, it } from 'vitest';
import { createMessage, decodeMessage, type HandoffMessage, isHandoffMessage, MESSAGE_TYPES, PROTOCOL_CMD, PROTOCOL_VERSION } from '@handoff/protocol';

const FAKE_HANDLE = { fd: 3 };

/** One valid message of each type, with the handle it must carry (if any). */
export const VALID: Array<{ message: HandoffMessage; handle?: object }> = [
  { message: createMessage('hello', { pid: 42, capabilities: ['drain'] }) },
  { message: createMessage('ready', {}) },
  { message: createMessage('load', { open: 1, closed: 2, requests: 3, eventLoopDelay: 1.5, rss: 1000, heapUsed: 500 }) },
  { message: createMessage('pong', { seq: 7 }) },
  { message: createMessage('error', { code: 'X', message: 'y' }) },
  { message: createMessage('draining', { phase: 'started', open: 3 }) },
  { message: createMessage('listen', { listener: 0, listeners: 1, mode: 'primary', address: { port: 80, host: '127.0.0.1' } }) },
  { message: createMessage('listen', { listener: 0, listeners: 2, mode: 'shared', address: { path: '/tmp/x.sock' } }), handle: FAKE_HANDLE },
  { message: createMessage('connection', { listener: 0, id: 9 }), handle: FAKE_HANDLE },
  { message: createMessage('connection', { listener: 0, id: 10, payload: 'R0VUIC8=' }), handle: FAKE_HANDLE },
  { message: createMessage('connection', { listener: 1, id: 11, payload: '' }), handle: FAKE_HANDLE },
  { message: createMessage('bind', { request: 1, address: { port: 3000 } }) },
  { message: createMessage('unlisten', { listener: 1 }) },
  { message: createMessage('unlistened', { listener: 1 }) },
  { message: createMessage('return', { listener: 0, id: 9, payload: 'R0VUIC8=' }), handle: FAKE_HANDLE },
  { message: createMessage('bind-error', { request: 1, code: 'EADDRINUSE', message: 'address in use' }) },
  { message: createMessage('listen', { listener: 1, listeners: 2, mode: 'primary', address: { port: 3000 }, request: 1 }) },
  { message: createMessage('limit', { open: 12 }) },
  { message: createMessage('listen', { listener: 0, listeners: 1, mode: 'shared', address: { port: 3000 }, limit: 5 }), handle: FAKE_HANDLE },
  { message: createMessage('load', { open: 1, closed: 0, requests: 3, eventLoopDelay: 0, rss: 0, heapUsed: 0, paused: true }) },
  { message: createMessage('ping', { seq: 1 }) },
  { message: createMessage('drain', { timeout: 1000 }) },
  { message: createMessage('shutdown', {}) },
  { message: createMessage('metrics', { seq: 3, data: '[]' }) },
  { message: createMessage('metrics', { seq: 4 }) },
  { message: createMessage('metrics', { seq: 5, error: 'registry threw' }) },
  { message: createMessage('metrics-request', { seq: 3 }) },
];

describe('isHandoffMessage', () => {
  it('accepts every message type', () => {
    const types = new Set(VALID.map((v) => v.message.type));
    expect([...types].sort()).toEqual([...MESSAGE_TYPES].sort());
    for (const { message } of VALID) expect(isHandoffMessage(message)).toBe(true);
  });

  it('never throws on a hostile value', () => {
    const hostile = new Proxy({}, { get: () => { throw new Error('boom'); } });
    expect(isHandoffMessage(hostile)).toBe(false);
  });

  it("tells the user's messages from handoff's", () => {
    for (const value of [null, undefined, 1, 'hello', [], {}, { type: 'hello' }, { cmd: 'NODE_HANDLE' }, { cmd: 'handoff' }]) {
      expect(isHandoffMessage(value)).toBe(false);
    }
  });
});

describe('decodeMessage', () => {
  it('accepts every valid message with its handle', () => {
    for (const { message, handle } of VALID) {
      const result = decodeMessage(message, handle);
      expect(result.ok, JSON.stringify(message)).toBe(true);
    }
  });

  it('rejects malformed messages with a typed error, never a throw', () => {
    const cases: Array<[unknown, object | undefined, string]> = [
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'nope' }, undefined, 'HANDOFF_ERR_PROTOCOL_UNKNOWN_TYPE'],
      [{ cmd: PROTOCOL_CMD, v: 99, type: 'ready' }, undefined, 'HANDOFF_ERR_PROTOCOL_VERSION'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: 1 }, undefined, 'HANDOFF_ERR_PROTOCOL_HANDLE'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: -1, id: 1 }, FAKE_HANDLE, 'HANDOFF_ERR_PROTOCOL_MALFORMED'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'hello', pid: 'x', capabilities: [] }, undefined, 'HANDOFF_ERR_PROTOCOL_MALFORMED'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'error', code: 'X', message: 'm'.repeat(5000) }, undefined, 'HANDOFF_ERR_PROTOCOL_OVERSIZED'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: 1, payload: 7 }, FAKE_HANDLE, 'HANDOFF_ERR_PROTOCOL_MALFORMED'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: 1, payload: 'not base64!' }, FAKE_HANDLE, 'HANDOFF_ERR_PROTOCOL_MALFORMED'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: 1, payload: 'A'.repeat(200_000) }, FAKE_HANDLE, 'HANDOFF_ERR_PROTOCOL_OVERSIZED'],
      [{ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'ready' }, FAKE_HANDLE, 'HANDOFF_ERR_PROTOCOL_HANDLE'],
      ['garbage', undefined, 'HANDOFF_ERR_PROTOCOL_MALFORMED'],
    ];
    for (const [value, handle, code] of cases) {
      const result = decodeMessage(value, handle);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe(code);
        expect(result.error.received).toBe(value);
      }
    }
  });

  it('names both versions when they differ', () => {
    const result = decodeMessage({ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION + 1, type: 'ready' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toMatch(new RegExp(`v${PROTOCOL_VERSION}.*v${PROTOCOL_VERSION + 1}`));
  });
});
