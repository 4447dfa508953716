import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { encodeTag, readPeer, tagKind, tagListener } from '../src/connection.js';
import { Fifo } from '../src/fifo.js';
import { FDPASS_FD_ENV, withLink } from '../src/spawn.js';
import { createPrimaryTransport, FdpassErrorCode, HandoffFdpassError } from '../src/index.js';

describe('Fifo', () => {
  it('keeps order across growth and wrap-around', () => {
    const fifo = new Fifo<number>(2);
    const model: number[] = [];
    let next = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < (round % 7) + 1; i++) {
        fifo.push(next);
        model.push(next++);
      }
      const drop = round % 5;
      fifo.drop(drop);
      model.splice(0, drop);
      expect(fifo.length).toBe(model.length);
      expect(fifo.peek()).toBe(model[0]);
    }
    expect(fifo.takeAll()).toEqual(model);
    expect(fifo.length).toBe(0);
  });
});

describe('tags and peers', () => {
  it('carries the listener and the kind in one u32', () => {
    for (const listener of [0, 1, 4242, 0xffff]) {
      for (const kind of ['tcp', 'unix'] as const) {
        const tag = encodeTag(listener, kind);
        expect(tag >>> 0).toBe(tag);
        expect([tagListener(tag), tagKind(tag)]).toEqual([listener, kind]);
      }
    }
  });

  it('reads the addon peer layout', () => {
    const peers = new Uint8Array(128);
    peers.set([6, 3, 0x39, 0x30], 64);
    peers.set(Buffer.from('::1', 'latin1'), 68);
    expect(readPeer(peers, 1)).toEqual({ address: '::1', port: 12345, family: 'IPv6' });
    peers[0] = 1;
    expect(readPeer(peers, 0)).toEqual({ address: undefined, port: undefined, family: 'unix' });
  });
});

describe('spawn options', () => {
  it("appends the link to fork()'s stdio and names its index", () => {
    expect(withLink({}, 9)).toMatchObject({ stdio: ['inherit', 'inherit', 'inherit', 'ipc', 9], env: { [FDPASS_FD_ENV]: '4' } });
    expect(withLink({ silent: true, env: { A: '1' } }, 9)).toEqual({ silent: true, stdio: ['pipe', 'pipe', 'pipe', 'ipc', 9], env: { A: '1', [FDPASS_FD_ENV]: '4' } });
    expect(withLink({ stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'ipc'] }, 7).env[FDPASS_FD_ENV]).toBe('5');
    // IPC: nothing added, and an inherited index never leaks into a worker.
    expect(withLink({ env: { [FDPASS_FD_ENV]: '4' } }, undefined)).toEqual({ env: {}, stdio: ['inherit', 'inherit', 'inherit', 'ipc'] });
  });
});

describe('errors', () => {
  it('refuses bad options and servers that do not listen, with codes that are HandoffErrors', () => {
    const bad = (f: () => unknown): HandoffFdpassError => {
      try {
        f();
      } catch (e) {
        return e as HandoffFdpassError;
      }
      throw new Error('did not throw');
    };
    expect(bad(() => createPrimaryTransport({ cap: 0 })).code).toBe(FdpassErrorCode.INVALID_OPTION);
    expect(bad(() => createPrimaryTransport({ maxBatch: 254 })).code).toBe(FdpassErrorCode.INVALID_OPTION);
    expect(bad(() => createPrimaryTransport({ transport: 'fast' as never })).code).toBe(FdpassErrorCode.INVALID_OPTION);
    const error = bad(() => createPrimaryTransport({ transport: 'ipc' }).listen(createServer(), { listener: 0, onConnection: () => {} }));
    expect(error.code).toBe(FdpassErrorCode.NOT_LISTENING);
    expect(error).toBeInstanceOf(HandoffFdpassError);
    // The brand @handoff/protocol's HandoffError checks, without a dependency on it.
    expect((error as unknown as Record<symbol, unknown>)[Symbol.for('handoff.error')]).toBe(true);
  });
});
