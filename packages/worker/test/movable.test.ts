import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createH2Server, createSecureServer } from 'node:http2';
import { createServer as createNetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mayMove, servedKind, type ConnectionSnapshot } from '../src/movable.js';

/** A connection between two requests of a plaintext HTTP/1 server: the one that moves. */
const idleHttp: ConnectionSnapshot = { kind: 'http', open: true, bytesRead: 120, bytesWritten: 300, buffered: 0, responseInFlight: false, parserIdle: true, upgraded: false, proxied: false, optedIn: false };
const fresh: ConnectionSnapshot = { ...idleHttp, bytesRead: 0, bytesWritten: 0, parserIdle: false };

describe('mayMove: may this connection move to another worker', () => {
  it('plaintext HTTP/1: a fresh connection (nothing read, nothing written) moves', () => {
    expect(mayMove(fresh)).toBe(true);
  });
  it('plaintext HTTP/1: a keep-alive connection idle between two requests moves', () => {
    expect(mayMove(idleHttp)).toBe(true);
  });
  it('plaintext HTTP/1: one with a response in progress, or part of a next request read, stays', () => {
    expect(mayMove({ ...idleHttp, responseInFlight: true })).toBe(false);
    expect(mayMove({ ...idleHttp, parserIdle: false })).toBe(false);
    expect(mayMove({ ...idleHttp, buffered: 12 })).toBe(false);
  });
  it('an upgraded socket (WebSocket, CONNECT), a PROXY connection, a closing one stay', () => {
    expect(mayMove({ ...idleHttp, upgraded: true })).toBe(false);
    expect(mayMove({ ...fresh, proxied: true })).toBe(false);
    expect(mayMove({ ...fresh, open: false })).toBe(false);
  });
  it('TLS and HTTP/2 (a session in this process) and raw streams never move, even fresh', () => {
    expect(mayMove({ ...fresh, kind: 'stateful' })).toBe(false);
    expect(mayMove({ ...fresh, kind: 'stream' })).toBe(false);
  });
  it('whatever else it knows, a connection that moves is a plaintext HTTP/1 one or an opted-in stream, open, with nothing of it held here', () => {
    const snapshot = fc.record({
      kind: fc.constantFrom('http', 'stateful', 'stream') as fc.Arbitrary<ConnectionSnapshot['kind']>,
      open: fc.boolean(),
      bytesRead: fc.nat(1000),
      bytesWritten: fc.nat(1000),
      buffered: fc.nat(10),
      responseInFlight: fc.boolean(),
      parserIdle: fc.boolean(),
      upgraded: fc.boolean(),
      proxied: fc.boolean(),
      optedIn: fc.boolean(),
    });
    fc.assert(
      fc.property(snapshot, (c) => {
        if (!mayMove(c)) return;
        expect(c.kind === 'http' || (c.kind === 'stream' && c.optedIn)).toBe(true);
        expect(c.open && !c.upgraded && !c.proxied && !c.responseInFlight && c.buffered === 0).toBe(true);
        expect(c.kind === 'http' ? c.parserIdle || (c.bytesRead === 0 && c.bytesWritten === 0) : c.bytesRead === 0 && c.bytesWritten === 0).toBe(true);
      }),
    );
  });
});

describe('servedKind', () => {
  it('tells plaintext HTTP/1 from TLS, HTTP/2 and raw servers', () => {
    expect(servedKind(createHttpServer())).toBe('http');
    expect(servedKind(createHttpsServer())).toBe('stateful');
    expect(servedKind(createTlsServer())).toBe('stateful');
    expect(servedKind(createH2Server())).toBe('stateful');
    expect(servedKind(createSecureServer())).toBe('stateful');
    expect(servedKind(createNetServer())).toBe('stream');
  });
});

describe('a raw stream that opted in', () => {
  const stream: ConnectionSnapshot = { ...fresh, kind: 'stream', optedIn: true };
  it('moves only while nothing was read or written', () => {
    expect(mayMove(stream)).toBe(true);
    expect(mayMove({ ...stream, bytesRead: 1 })).toBe(false);
    expect(mayMove({ ...stream, bytesWritten: 5 })).toBe(false);
    expect(mayMove({ ...stream, optedIn: false })).toBe(false);
  });
});
